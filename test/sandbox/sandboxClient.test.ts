import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isValidSlackRequest } from '@slack/bolt';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { seedDemoWorkspace } from '../../src/sandbox/demoWorkspace.js';
import { SandboxClient } from '../../src/sandbox/sandboxClient.js';
import { SlackEmulator } from '../../src/sandbox/slackEmulator.js';

/**
 * Slack's side of the sandbox against a stand-in app over real HTTP: what arrives, signed how, and
 * where the app's answers show.
 */

const SECRET = 'sandbox-client-test-secret';
const COMMANDS = new Map([
  ['/incident', { shouldEscape: true }],
  ['/action', { shouldEscape: false }],
]);

interface Arrival {
  valid: boolean;
  form: URLSearchParams;
}

let app: Server;
let arrivals: Arrival[];
let answer: { status: number; body: string; delayMs?: number };
let emulator: SlackEmulator;
let client: SandboxClient;

beforeEach(async () => {
  arrivals = [];
  answer = { status: 200, body: '' };
  app = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const body = Buffer.concat(chunks).toString('utf8');
    arrivals.push({
      // Bolt's own check, as the real app runs it.
      valid: isValidSlackRequest({
        signingSecret: SECRET,
        body,
        headers: {
          'x-slack-signature': String(req.headers['x-slack-signature']),
          'x-slack-request-timestamp': Number(req.headers['x-slack-request-timestamp']),
        },
      }),
      form: new URLSearchParams(body),
    });
    if (answer.delayMs) await new Promise((resolve) => setTimeout(resolve, answer.delayMs));
    if (res.destroyed) return;
    res.writeHead(answer.status, { 'content-type': 'application/json' });
    res.end(answer.body);
  });
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  emulator = new SlackEmulator();
  seedDemoWorkspace(emulator);
  client = new SandboxClient(
    emulator,
    { teamId: 'T0SANDBOX', domain: 'sandbox', appId: 'A0APP' },
    SECRET,
    COMMANDS,
  );
  client.connect(`http://127.0.0.1:${(app.address() as AddressInfo).port}`);
});
afterEach(async () => {
  await new Promise((resolve) => app.close(resolve));
});

const keyOf = (responseUrl: string) => new URL(responseUrl).searchParams.get('key')!;

describe('slash commands', () => {
  it('gives up, as Slack does, on an app that has not answered within 3 seconds', async () => {
    answer = { status: 200, body: '', delayMs: 4000 };
    await client.command('U0ALICE', 'C0PAYMENTS', '/incident list');
    expect(emulator.ephemerals('U0ALICE').map((e) => e.text)).toEqual([
      '/incident failed with the error "operation_timeout"',
    ]);
  }, 10_000);

  it('sends the signed form Slack sends, and shows an acknowledgement body to the one who typed', async () => {
    answer.body = JSON.stringify({ response_type: 'ephemeral', text: 'Usage: …' });
    await client.command('U0ALICE', 'C0PAYMENTS', '/action   scale payments-api replicas=3');
    expect(arrivals).toHaveLength(1);
    const [{ valid, form }] = arrivals as [Arrival];
    expect(valid).toBe(true);
    expect(Object.fromEntries(form)).toMatchObject({
      command: '/action',
      text: 'scale payments-api replicas=3',
      user_id: 'U0ALICE',
      user_name: 'alice',
      channel_id: 'C0PAYMENTS',
      channel_name: 'payments',
      team_id: 'T0SANDBOX',
      api_app_id: 'A0APP',
    });
    expect(form.get('trigger_id')).toMatch(/^\d+\.[0-9a-f]{16}$/);
    expect(form.get('response_url')).toMatch(/\/sandbox\/api\/respond\?key=[0-9a-f]{32}$/);
    expect(emulator.ephemerals('U0ALICE').map((e) => e.text)).toEqual(['Usage: …']);
  });

  it('escapes &, < and >, and turns mentions into ids only for commands that ask for it', async () => {
    await client.command(
      'U0ALICE',
      'C0INCIDENTS',
      '/incident assign commander @bob in #payments <b> & @nobody',
    );
    await client.command('U0ALICE', 'C0INCIDENTS', '/action announce payments-api message=@bob');
    expect(arrivals.map((a) => a.form.get('text'))).toEqual([
      'assign commander <@U0BOB|bob> in <#C0PAYMENTS|payments> &lt;b&gt; &amp; @nobody',
      'announce payments-api message=@bob',
    ]);
  });

  it('tells the person when the app fails or answers with blocks Slack refuses, and about unknown commands', async () => {
    answer = { status: 401, body: '' };
    await client.command('U0ALICE', 'C0INCIDENTS', '/incident help');
    answer = { status: 200, body: JSON.stringify({ blocks: [{ type: 'carousel' }] }) };
    await client.command('U0ALICE', 'C0INCIDENTS', '/incident help');
    await client.command('U0ALICE', 'C0INCIDENTS', '/deploy now');
    expect(emulator.ephemerals('U0ALICE').map((e) => e.text)).toEqual([
      '/incident failed with the error "http_service_error" (HTTP 401).',
      '/incident answered with a message Slack refuses: invalid_blocks.',
      "/deploy is not a valid command. The app's commands: /incident, /action.",
    ]);
    expect(arrivals).toHaveLength(2);
  });

  it('refuses unknown people and channels and text that is not a command, sending nothing', async () => {
    await expect(client.command('U0MALLORY', 'C0INCIDENTS', '/incident help')).rejects.toThrow(
      'no user U0MALLORY',
    );
    await expect(client.command('U0ALICE', 'C0NOWHERE', '/incident help')).rejects.toThrow(
      'no channel C0NOWHERE',
    );
    await expect(client.command('U0ALICE', 'C0INCIDENTS', 'hello')).rejects.toThrow('Type a slash command');
    expect(arrivals).toEqual([]);
  });
});

describe('response_url', () => {
  it('shows ephemeral answers to the person and in_channel ones to everyone, five times at most', async () => {
    await client.command('U0ALICE', 'C0PAYMENTS', '/action list');
    const key = keyOf(arrivals[0]!.form.get('response_url')!);
    expect(client.respond(key, { text: 'just you' })).toEqual({ status: 200 });
    expect(client.respond(key, { response_type: 'in_channel', text: 'everyone' })).toEqual({ status: 200 });
    expect(client.respond(key, { blocks: [{ type: 'carousel' }] })).toEqual({
      status: 400,
      error: 'invalid_blocks',
    });
    expect(emulator.ephemerals('U0ALICE').map((e) => e.text)).toEqual(['just you']);
    expect(emulator.channelMessages('C0PAYMENTS').map((m) => m.text)).toEqual(['everyone']);
    expect(client.respond(key, { text: '4' }).status).toBe(200);
    expect(client.respond(key, { text: '5' }).status).toBe(200);
    expect(client.respond(key, { text: '6' })).toEqual({ status: 404, error: 'expired_url' });
    expect(client.respond('0'.repeat(32), { text: 'guess' })).toEqual({ status: 404, error: 'expired_url' });
  });
});

describe('buttons and modals', () => {
  const MESSAGE_BLOCKS = [
    { type: 'section', text: { type: 'mrkdwn', text: 'ACT-1' } },
    {
      type: 'actions',
      block_id: 'action_votes',
      elements: [
        {
          type: 'button',
          action_id: 'action_approve',
          text: { type: 'plain_text', text: 'Approve' },
          value: '1',
          style: 'primary',
        },
      ],
    },
  ];

  it('sends block_actions with the message, its container, the channel, the user and a response_url', async () => {
    const root = emulator.post('C0PAYMENTS', undefined, { text: 'root', blocks: [] });
    const reply = emulator.post('C0PAYMENTS', root.ts, { text: 'ACT-1', blocks: MESSAGE_BLOCKS });
    await client.click('U0BOB', 'C0PAYMENTS', reply.ts, 1, 'action_approve');
    expect(arrivals[0]!.valid).toBe(true);
    const payload = JSON.parse(arrivals[0]!.form.get('payload')!);
    expect(payload).toMatchObject({
      type: 'block_actions',
      user: { id: 'U0BOB', username: 'bob', team_id: 'T0SANDBOX' },
      team: { id: 'T0SANDBOX' },
      channel: { id: 'C0PAYMENTS', name: 'payments' },
      container: { type: 'message', message_ts: reply.ts, channel_id: 'C0PAYMENTS', thread_ts: root.ts },
      message: { ts: reply.ts, thread_ts: root.ts, blocks: MESSAGE_BLOCKS },
      actions: [
        {
          type: 'button',
          action_id: 'action_approve',
          block_id: 'action_votes',
          value: '1',
          style: 'primary',
        },
      ],
    });
    expect(payload.trigger_id).toMatch(/^\d+\.[0-9a-f]{16}$/);
    expect(payload.response_url).toContain('/sandbox/api/respond?key=');
    await expect(client.click('U0BOB', 'C0PAYMENTS', reply.ts, 0, 'action_approve')).rejects.toThrow(
      'no such button',
    );
    await expect(client.click('U0BOB', 'C0PAYMENTS', '1.000001', 1, 'action_approve')).rejects.toThrow(
      'no such message',
    );
  });

  it("submits a modal's inputs typed as Slack types them, only the opener's, and keeps it open on errors", async () => {
    await client.command('U0ALICE', 'C0INCIDENTS', '/incident update');
    const triggerId = arrivals[0]!.form.get('trigger_id')!;
    const reply = emulator.handle(
      'views.open',
      {
        trigger_id: triggerId,
        view: {
          type: 'modal',
          callback_id: 'incident_update',
          private_metadata: '7',
          title: { type: 'plain_text', text: 'Update INC-7' },
          submit: { type: 'plain_text', text: 'Post' },
          blocks: [
            {
              type: 'input',
              block_id: 'status',
              label: { type: 'plain_text', text: 'Status' },
              element: {
                type: 'static_select',
                action_id: 'value',
                options: [{ text: { type: 'plain_text', text: 'Monitoring' }, value: 'monitoring' }],
              },
            },
            {
              type: 'input',
              block_id: 'text',
              label: { type: 'plain_text', text: 'What changed' },
              element: { type: 'plain_text_input', action_id: 'value' },
            },
          ],
        },
      },
      'Bearer xoxb-any',
    );
    const viewId = (reply.body.view as { id: string }).id;
    expect(client.openView('U0BOB')).toBeUndefined();
    await expect(client.submit('U0BOB', viewId, {})).rejects.toThrow('not open');
    await expect(client.submit('U0ALICE', viewId, { status: 'deleted' })).rejects.toThrow(
      'status: not one of the options',
    );

    answer.body = JSON.stringify({ response_action: 'errors', errors: { text: 'Say what changed.' } });
    expect(await client.submit('U0ALICE', viewId, { status: 'monitoring', text: null })).toEqual({
      errors: { text: 'Say what changed.' },
    });
    const payload = JSON.parse(arrivals.at(-1)!.form.get('payload')!);
    expect(payload).toMatchObject({
      type: 'view_submission',
      user: { id: 'U0ALICE' },
      view: { id: viewId, callback_id: 'incident_update', private_metadata: '7', team_id: 'T0SANDBOX' },
    });
    expect(payload.view.state.values).toEqual({
      status: {
        value: {
          type: 'static_select',
          selected_option: { text: { type: 'plain_text', text: 'Monitoring' }, value: 'monitoring' },
        },
      },
      text: { value: { type: 'plain_text_input', value: null } },
    });
    expect(client.openView('U0ALICE')?.errors).toEqual({ text: 'Say what changed.' });

    answer.body = '';
    expect(await client.submit('U0ALICE', viewId, { status: 'monitoring', text: 'Fixed.' })).toEqual({});
    expect(client.openView('U0ALICE')).toBeUndefined();
  });
});
