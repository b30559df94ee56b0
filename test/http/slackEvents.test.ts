import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackSignatureHeaders } from '../../src/sandbox/slackSigning.js';
import { type ChildBot, startChild, stopChild } from '../support/childWorker.js';
import { blockActionsPayload, viewSubmissionPayload } from '../support/slackRequests.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const FORM = 'application/x-www-form-urlencoded';
const now = () => Math.floor(Date.now() / 1000);

/** POST /slack/events, signed unless told otherwise. */
function send(
  url: string,
  body: string,
  options: { type?: string; timestamp?: number | string; method?: string } = {},
) {
  const timestamp = options.timestamp ?? now();
  const signed = slackSignatureHeaders(TEST_SECRETS.signingSecret, body, timestamp as number);
  return fetch(`${url}/slack/events`, {
    method: options.method ?? 'POST',
    headers: { 'content-type': options.type ?? FORM, ...signed },
    ...(options.method && options.method !== 'POST' ? {} : { body }),
    signal: AbortSignal.timeout(5000),
  });
}
const interaction = (payload: unknown) => `payload=${encodeURIComponent(JSON.stringify(payload))}`;

async function answer(res: Response) {
  return { status: res.status, body: await res.text() };
}

describe('POST /slack/events: what reaches Bolt is what Slack sends', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({ worker: false });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('answers any other method with 405 (Bolt threw, and the process died)', async () => {
    for (const method of ['GET', 'PUT', 'DELETE', 'OPTIONS', 'HEAD']) {
      const res = await send(bot.url, '', { method });
      expect(res.status, method).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
  });

  it('refuses a timestamp more than five minutes off in either direction, or not in seconds', async () => {
    const body = interaction(blockActionsPayload('no_such_action', '1'));
    const refused = [now() - 6 * 60, now() + 6 * 60, now() + 365 * 24 * 3600, Date.now(), '1e9', '', '-1'];
    for (const timestamp of refused) {
      const res = await answer(await send(bot.url, body, { timestamp }));
      expect(res.status, String(timestamp)).toBe(401);
      expect(res.body).toContain('x-slack-request-timestamp');
    }
    for (const timestamp of [now() - 4 * 60, now() + 4 * 60])
      expect((await send(bot.url, body, { timestamp })).status).toBe(200);
  });

  it('refuses with 400, naming the path, a body Bolt would have choked on', async () => {
    const click = blockActionsPayload('action_approve', '1');
    const view = viewSubmissionPayload({ callback_id: 'incident_update', private_metadata: '1' }, {});
    const cases: Array<[string, string, string]> = [
      ['payload=null', FORM, 'payload: '],
      ['payload=%5B%5D', FORM, 'payload: '],
      ['payload=%22x%22', FORM, 'payload: '],
      ['payload=%7B', FORM, 'payload: not valid JSON'],
      ['null', 'application/json', '(root): '],
      ['{"type":"event_callback"}', 'application/json', 'event: '],
      [interaction({ ...click, user: undefined }), FORM, 'payload.user: '],
      [interaction({ ...click, actions: 'approve' }), FORM, 'payload.actions: '],
      [interaction({ ...click, actions: [] }), FORM, 'payload.actions: '],
      [interaction({ ...click, actions: [{ action_id: 7 }] }), FORM, 'payload.actions[0].action_id: '],
      [interaction({ ...view, view: undefined }), FORM, 'payload.view: '],
      [
        interaction({ ...view, view: { ...(view.view as object), state: undefined } }),
        FORM,
        'payload.view.state: ',
      ],
      [
        interaction({ ...view, view: { ...(view.view as object), state: {} } }),
        FORM,
        'payload.view.state.values: ',
      ],
      ['command=%2Fincident&text=list', FORM, 'user_id: '],
      ['text=list', 'text/plain', 'content-type: '],
    ];
    for (const [body, type, path] of cases) {
      const res = await answer(await send(bot.url, body, { type }));
      expect(res.status, body).toBe(type === 'text/plain' ? 415 : 400);
      expect(JSON.parse(res.body).error, body).toContain(path);
    }
    expect((await fetch(`${bot.url}/healthz`)).status).toBe(200);
  });

  it('acknowledges at once, and ignores, a click or form no listener answers', async () => {
    for (const actionId of ['no_such_action', '']) {
      const res = await answer(await send(bot.url, interaction(blockActionsPayload(actionId, '1'))));
      expect(res).toEqual({ status: 200, body: '' });
    }
    const form = viewSubmissionPayload({ callback_id: 'no_such_form', private_metadata: '' }, {});
    expect(await answer(await send(bot.url, interaction(form)))).toEqual({ status: 200, body: '' });
    expect(bot.slack.emulator.calls).toEqual([]);
  });

  it("answers Slack's SSL check and URL verification", async () => {
    expect(await answer(await send(bot.url, 'ssl_check=1&token=x'))).toEqual({ status: 200, body: '' });
    const verify = JSON.stringify({ type: 'url_verification', challenge: 'c-1' });
    const res = await send(bot.url, verify, { type: 'application/json' });
    expect(await res.json()).toEqual({ challenge: 'c-1' });
  });
});

describe('the serving process, under requests that used to stop it', () => {
  let bot: TestBot;
  let child: ChildBot;
  beforeAll(async () => {
    bot = await startTestBot({ worker: false });
    child = await startChild(bot, ['serve', '--no-worker']);
  });
  afterAll(async () => {
    if (child) await stopChild(child.process, 'SIGKILL');
    await bot?.stop();
  });

  it('keeps answering after an unsigned GET and a signed payload=null', async () => {
    const url = `http://127.0.0.1:${child.port}`;
    expect((await fetch(`${url}/slack/events`, { signal: AbortSignal.timeout(5000) })).status).toBe(405);
    expect((await send(url, 'payload=null')).status).toBe(400);
    expect((await send(url, 'null', { type: 'application/json' })).status).toBe(400);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    expect(child.output()).not.toContain('unhandled');
  });
});
