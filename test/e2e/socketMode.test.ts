import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INCIDENT_HELP } from '../../src/commands/incidentCommand.js';
import { ConfigError } from '../../src/config/index.js';
import { createSocketModeConnection } from '../../src/listeners/socketMode.js';
import { boltLogger, createLogger } from '../../src/observability/logger.js';
import { slackSignatureHeaders } from '../../src/sandbox/slackSigning.js';
import { waitFor } from '../support/services.js';
import {
  blockActionsPayload,
  INCIDENT_CHANNEL,
  messageOf,
  SRE,
  slashCommandFields,
  viewSubmissionPayload,
} from '../support/slackRequests.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

/**
 * The bot with SLACK_APP_TOKEN set and no signing secret: Slack's requests come over the emulator's
 * Socket Mode connection instead of /slack/events, while the webhook, health and metrics stay on PORT.
 */
describe('Socket Mode, end to end through the emulator', () => {
  let bot: TestBot;
  let ref: string;
  let id: number;
  beforeAll(async () => {
    bot = await startTestBot({ env: { SLACK_APP_TOKEN: TEST_SECRETS.appToken, SLACK_SIGNING_SECRET: '' } });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const socketMode = () => bot.slack.emulator.socketMode;
  const text = (value: unknown) => JSON.stringify(value);

  it('connects with the app token before it reports started, and serves health and metrics on PORT', async () => {
    expect(bot.config.env.SLACK_SIGNING_SECRET).toBeUndefined();
    expect(socketMode().connections).toBe(1);
    // Asked once to check the token and the URL, then once for the socket.
    expect(bot.slack.emulator.callsOf('apps.connections.open')).toMatchObject([{ ok: true }, { ok: true }]);
    for (const path of ['/healthz', '/readyz', '/metrics']) {
      const res = await fetch(`${bot.url}${path}`);
      expect(res.status, path).toBe(200);
      await res.text();
    }
  });

  it('serves no /slack/events over HTTP: Slack sends nothing there in Socket Mode', async () => {
    const body = new URLSearchParams(slashCommandFields('help')).toString();
    const res = await fetch(`${bot.url}/slack/events`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        ...slackSignatureHeaders(TEST_SECRETS.signingSecret, body),
      },
      body,
    });
    expect(res.status).toBe(404);
    await res.text();
  });

  it('takes Alertmanager deliveries on PORT as before', async () => {
    const res = await bot.deliver({});
    expect(res.status).toBe(400);
    await res.text();
  });

  it('answers a slash command in the acknowledgement of its envelope', async () => {
    const answer = await socketMode().deliver('slash_commands', slashCommandFields('help'));
    expect(answer).toEqual({ response_type: 'ephemeral', text: INCIDENT_HELP });
  });

  it('declares an incident from a command over the socket, and the worker posts it', async () => {
    const answer = await socketMode().deliver(
      'slash_commands',
      slashCommandFields('declare P1 Checkout is failing for EU customers'),
    );
    expect(answer.response_type).toBe('ephemeral');
    ref = /Declared (INC-\d+) \(P1\) in this channel/.exec(String(answer.text))![1]!;
    id = Number(ref.slice(4));
    await waitFor(
      () =>
        bot.slack.emulator.channelMessages(INCIDENT_CHANNEL).find((m) => text(m.blocks).includes(`${ref} ·`)),
      20_000,
      'root message',
    );
  });

  it('opens the update form for a click on the root message button', async () => {
    const ack = await socketMode().deliver(
      'interactive',
      blockActionsPayload('incident_post_update', String(id), await messageOf(bot, 'incident', id)),
    );
    expect(ack).toEqual({});
    const opened = await waitFor(() => bot.slack.emulator.callsOf('views.open').at(-1), 20_000, 'views.open');
    expect(opened.ok).toBe(true);
    expect(opened.params.view).toMatchObject({
      callback_id: 'incident_update',
      private_metadata: String(id),
    });
  });

  it("shows a form's problems under its fields through the acknowledgement", async () => {
    const ack = await socketMode().deliver(
      'interactive',
      viewSubmissionPayload(
        { callback_id: 'incident_update', private_metadata: String(id) },
        { status: { selected: 'monitoring' }, text: 'Fix deployed', next_update: 'soon' },
      ),
    );
    expect(ack).toEqual({
      response_action: 'errors',
      errors: { next_update: 'A whole number of minutes from 1 to 1440.' },
    });
  });

  it('tells only the clicker, through the Web API, when a button names no incident', async () => {
    const ack = await socketMode().deliver(
      'interactive',
      blockActionsPayload('incident_resolve', '999999', { user: SRE.bob }),
    );
    expect(ack).toEqual({});
    const told = await waitFor(
      () => bot.slack.emulator.callsOf('chat.postEphemeral').find((c) => c.params.user === SRE.bob),
      20_000,
      'ephemeral answer',
    );
    expect(told.params.channel).toBe(INCIDENT_CHANNEL);
    expect(told.params.text).toMatch(/^There is no incident INC-999999\./);
  });

  it('acknowledges, and runs nothing for, a malformed request or one no listener answers', async () => {
    const posts = bot.slack.emulator.callsOf('chat.postEphemeral').length;
    const click = blockActionsPayload('incident_resolve', String(id));
    for (const payload of [
      { ...click, user: null },
      { ...click, actions: 'resolve' },
      viewSubmissionPayload({ callback_id: 'incident_update', private_metadata: String(id) }, {}, null!),
      blockActionsPayload('no_such_action', String(id)),
      viewSubmissionPayload({ callback_id: 'no_such_form', private_metadata: '' }, {}),
    ])
      expect(await socketMode().deliver('interactive', payload)).toEqual({});
    const answer = await socketMode().deliver('slash_commands', slashCommandFields('help'));
    expect(answer.text).toBe(INCIDENT_HELP);
    expect(bot.slack.emulator.callsOf('chat.postEphemeral').length).toBe(posts);
  });

  it('reconnects when Slack asks it to, and goes on answering', async () => {
    const opened = bot.slack.emulator.callsOf('apps.connections.open').length;
    socketMode().refresh();
    await waitFor(
      () =>
        bot.slack.emulator.callsOf('apps.connections.open').length > opened && socketMode().connections === 1,
      30_000,
      'a new connection',
    );
    const answer = await socketMode().deliver('slash_commands', slashCommandFields('help'));
    expect(answer.text).toBe(INCIDENT_HELP);
  });

  it('closes its socket when it stops', async () => {
    await bot.app.stop();
    await waitFor(() => socketMode().connections === 0, 20_000, 'socket closed');
  });
});

describe('Socket Mode with an app token Slack refuses', () => {
  it('does not start, and names the token as a configuration problem', async () => {
    const started = startTestBot({
      env: { SLACK_APP_TOKEN: 'xapp-1-A0INCIDENTBOT-revoked', SLACK_SIGNING_SECRET: '' },
    });
    await expect(started).rejects.toBeInstanceOf(ConfigError);
    await expect(started).rejects.toMatchObject({
      problems: [
        'SLACK_APP_TOKEN: Slack refused it (invalid_auth); expected an app-level token with connections:write',
      ],
    });
  });
});

describe('Socket Mode with a Web API URL that is not Slack', () => {
  it('does not start, and names the URL, rather than wait for ever', async () => {
    // A wrong SLACK_API_URL, or a proxy refusing the call: HTTP 404 for apps.connections.open.
    const notSlack = createServer((req, res) => {
      req.resume();
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found');
    });
    await new Promise<void>((resolve) => notSlack.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(notSlack.address() as AddressInfo).port}/wrong/`;
    const connection = createSocketModeConnection(
      'xapp-1-A0-1-abcdef',
      url,
      boltLogger(createLogger('silent')),
      createLogger('silent'),
    );
    try {
      // Before: asked again every 5 s for ever, logging nothing; the start never ended.
      await expect(connection.start()).rejects.toMatchObject({
        problems: [
          "SLACK_API_URL: apps.connections.open was refused there with HTTP 404, which Slack's Web API does not answer; check the URL and any proxy on the way",
        ],
      });
    } finally {
      await connection.stop().catch(() => {});
      notSlack.close();
    }
  });
});
