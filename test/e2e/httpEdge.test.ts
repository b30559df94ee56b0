import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackSignatureHeaders } from '../../src/sandbox/slackSigning.js';
import { payload } from '../support/alertmanager.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

describe('the HTTP edge', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({ worker: false });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const slackPost = (body: string, headers: Record<string, string>) =>
    fetch(`${bot.url}/slack/events`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body,
    });

  it('answers Slack requests signed with the v0 scheme', async () => {
    const body = JSON.stringify({ type: 'url_verification', challenge: 'c-123', token: 'legacy' });
    const res = await slackPost(body, slackSignatureHeaders(TEST_SECRETS.signingSecret, body));
    expect(res.status).toBe(200);
    expect(await res.text()).toContain('c-123');
  });

  it('rejects a wrong signature, a missing one, and a replayed request older than five minutes', async () => {
    const body = JSON.stringify({ type: 'url_verification', challenge: 'c-456' });
    const wrong = slackSignatureHeaders('not-the-signing-secret', body);
    expect((await slackPost(body, wrong)).status).toBe(401);
    expect((await slackPost(body, {})).status).toBe(401);
    const stale = slackSignatureHeaders(
      TEST_SECRETS.signingSecret,
      body,
      Math.floor(Date.now() / 1000) - 6 * 60,
    );
    expect((await slackPost(body, stale)).status).toBe(401);
    const tampered = slackSignatureHeaders(TEST_SECRETS.signingSecret, body);
    expect((await slackPost(body.replace('c-456', 'c-789'), tampered)).status).toBe(401);
  });

  it('serves /healthz, /readyz and Prometheus metrics', async () => {
    expect(await (await fetch(`${bot.url}/healthz`)).json()).toEqual({ status: 'ok' });
    expect((await fetch(`${bot.url}/readyz`)).status).toBe(200);
    await bot.deliver(payload({ group: 'Metrics', alerts: [{ instance: 'a' }] }));
    await bot.deliver(payload({ group: 'Metrics', alerts: [{ instance: 'a' }] }));
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toContain('incident_bot_alertmanager_deliveries_total{outcome="created"} 1');
    expect(metrics).toContain('incident_bot_alertmanager_deliveries_total{outcome="duplicate"} 1');
    expect(metrics).toContain('incident_bot_alertmanager_request_duration_seconds_bucket');
  });

  it('answers 404 for unknown paths', async () => {
    expect((await fetch(`${bot.url}/nope`)).status).toBe(404);
  });
});
