import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { type RunningEmulator, startSlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { waitFor } from '../support/services.js';

const BOT_TOKEN = 'xoxb-test-emulator-token';
const APP_TOKEN = 'xapp-1-A0TEST-emulator-app-token';

let slack: RunningEmulator;
const sockets: WebSocket[] = [];
beforeEach(async () => {
  slack = await startSlackEmulator({ token: BOT_TOKEN, appToken: APP_TOKEN });
});
afterEach(async () => {
  for (const socket of sockets.splice(0)) socket.terminate();
  await slack.close();
});

async function connectionsOpen(token?: string): Promise<{ ok: boolean; url?: string; error?: string }> {
  const res = await fetch(`${slack.apiUrl}apps.connections.open`, {
    method: 'POST',
    headers: token ? { authorization: `Bearer ${token}` } : {},
  });
  expect(res.status).toBe(200);
  return (await res.json()) as { ok: boolean; url?: string; error?: string };
}

/** A socket as Slack's SDKs open one, with every message it receives, parsed. */
async function connect(
  url: string,
): Promise<{ socket: WebSocket; received: Array<Record<string, unknown>> }> {
  const socket = new WebSocket(url);
  sockets.push(socket);
  const received: Array<Record<string, unknown>> = [];
  socket.on('message', (data) => received.push(JSON.parse(String(data))));
  await new Promise<void>((resolve, reject) => {
    socket.once('open', () => resolve());
    socket.once('error', reject);
  });
  return { socket, received };
}

describe('apps.connections.open', () => {
  it('gives a ws:// URL on the emulator for the app-level token', async () => {
    const answer = await connectionsOpen(APP_TOKEN);
    expect(answer.ok).toBe(true);
    expect(answer.url).toMatch(
      new RegExp(`^${slack.emulator.baseUrl!.replace('http', 'ws')}/link/\\?ticket=[0-9a-f]+&app_id=A\\w+$`),
    );
    expect(slack.emulator.callsOf('apps.connections.open')).toMatchObject([{ ok: true }]);
  });

  it('refuses a bot token, another app token and no token, as Slack does', async () => {
    expect(await connectionsOpen(BOT_TOKEN)).toEqual({ ok: false, error: 'not_allowed_token_type' });
    expect(await connectionsOpen('xapp-1-A0TEST-someone-else')).toEqual({ ok: false, error: 'invalid_auth' });
    expect(await connectionsOpen()).toEqual({ ok: false, error: 'not_authed' });
    expect(slack.emulator.socketMode.connections).toBe(0);
  });

  it('keeps the bot token for the bot: an app token is refused by every other method', async () => {
    const res = await fetch(`${slack.apiUrl}auth.test`, {
      headers: { authorization: `Bearer ${APP_TOKEN}` },
    });
    expect(await res.json()).toEqual({ ok: false, error: 'invalid_auth' });
  });
});

describe('the Socket Mode connection', () => {
  it('says hello when the app connects', async () => {
    const { received } = await connect((await connectionsOpen(APP_TOKEN)).url!);
    const hello = await waitFor(() => received[0], 10_000, 'hello');
    expect(hello).toMatchObject({
      type: 'hello',
      num_connections: 1,
      connection_info: { app_id: 'A0INCIDENTBOT' },
    });
    expect(slack.emulator.socketMode.connections).toBe(1);
  });

  it('lets each URL connect once, and no made-up ticket at all', async () => {
    const { url } = await connectionsOpen(APP_TOKEN);
    await connect(url!);
    await expect(connect(url!)).rejects.toThrow(/401/);
    await expect(connect(url!.replace(/ticket=\w+/, 'ticket=0123'))).rejects.toThrow(/401/);
    expect(slack.emulator.socketMode.connections).toBe(1);
  });

  it('delivers an envelope and resolves with the acknowledgement that names it', async () => {
    const { socket, received } = await connect((await connectionsOpen(APP_TOKEN)).url!);
    await waitFor(() => received[0], 10_000, 'hello');
    const acked = slack.emulator.socketMode.deliver('slash_commands', { command: '/incident', text: 'help' });
    const envelope = await waitFor(() => received[1], 10_000, 'envelope');
    expect(envelope).toMatchObject({
      type: 'slash_commands',
      payload: { command: '/incident', text: 'help' },
      accepts_response_payload: true,
    });
    expect(envelope.envelope_id).toMatch(/^[0-9a-f]{32}$/);

    // Garbage is ignored, and an acknowledgement of another envelope does not settle this one.
    socket.send('not json');
    socket.send(JSON.stringify({ envelope_id: 'someone-else', payload: { text: 'no' } }));
    socket.send(JSON.stringify({ envelope_id: envelope.envelope_id, payload: { text: 'Usage: …' } }));
    expect(await acked).toEqual({ text: 'Usage: …' });
    expect(slack.emulator.socketMode.acks.map((a) => a.envelopeId)).toEqual([
      'someone-else',
      envelope.envelope_id,
    ]);
  });

  it('marks a button click as taking no answer in its acknowledgement', async () => {
    const { received } = await connect((await connectionsOpen(APP_TOKEN)).url!);
    await waitFor(() => received[0], 10_000, 'hello');
    void slack.emulator.socketMode.deliver('interactive', { type: 'block_actions' });
    expect(await waitFor(() => received[1], 10_000, 'envelope')).toMatchObject({
      type: 'interactive',
      accepts_response_payload: false,
    });
  });

  it('asks every app to reconnect on refresh, as Slack does before recycling a server', async () => {
    const { received } = await connect((await connectionsOpen(APP_TOKEN)).url!);
    await waitFor(() => received[0], 10_000, 'hello');
    slack.emulator.socketMode.refresh();
    expect(await waitFor(() => received[1], 10_000, 'disconnect')).toEqual({
      type: 'disconnect',
      reason: 'refresh_requested',
    });
  });

  it('refuses to deliver without a connection', async () => {
    await expect(slack.emulator.socketMode.deliver('slash_commands', {})).rejects.toThrow(
      'no Socket Mode connection is open',
    );
  });

  it('drops every socket when the emulator closes', async () => {
    const { socket, received } = await connect((await connectionsOpen(APP_TOKEN)).url!);
    await waitFor(() => received[0], 10_000, 'hello');
    const closed = new Promise((resolve) => socket.once('close', resolve));
    slack.emulator.socketMode.close();
    await closed;
    expect(slack.emulator.socketMode.connections).toBe(0);
  });
});
