import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { EmulatedMessage } from '../../src/sandbox/slackEmulator.js';
import { payload } from '../support/alertmanager.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import { DEFAULT_TEST_CONFIG, jsonOf, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const DEFAULT_CHANNEL = 'C0DEFAULT1';
const PAYMENTS = 'C0PAYMENTS';

const withHeartbeat = (expectEvery: string, alertname = 'Watchdog') =>
  `${DEFAULT_TEST_CONFIG}heartbeat: { alertname: ${JSON.stringify(alertname)}, expectEvery: ${expectEvery} }\n`;

/** The Watchdog alone, as the example's Watchdog route sends it. */
const watchdog = (alertname = 'Watchdog') =>
  payload({
    group: alertname,
    alerts: [
      { name: alertname, instance: 'prometheus', severity: 'none', labels: { service: 'prometheus' } },
    ],
  });

const textOf = (m: EmulatedMessage) => `${m.text}\n${JSON.stringify(m.blocks)}`;
const heartbeatPosts = (bot: TestBot, kind: 'missing' | 'back') =>
  bot.slack.emulator
    .allMessages()
    .filter((m) => m.metadata?.event_type === `heartbeat_${kind}`)
    .map((m) => ({ ...m, all: textOf(m) }));

/** Runs the periodic check `n` times at once, as replicas whose schedules coincide would. */
async function checkNow(bot: TestBot, n = 1): Promise<void> {
  await Promise.all(
    Array.from({ length: n }, () => bot.app.slackSync.add('heartbeat-check', { kind: 'heartbeat-check' })),
  );
  await waitForQueueIdle(bot.app.slackSync);
}

/** The heartbeat was last seen this long ago. */
const silentFor = (bot: TestBot, interval: string) =>
  bot.app.pool.query('UPDATE heartbeats SET last_seen_at = now() - $1::interval', [interval]);

describe('heartbeat: a Watchdog that stops arriving is told in the default channel', () => {
  let bot: TestBot;
  const logged: string[] = [];
  beforeAll(async () => {
    // An hour: the test moves the clock itself, so nothing depends on how fast this machine is.
    bot = await startTestBot({ configYaml: withHeartbeat('1h'), logTo: { write: (l) => logged.push(l) } });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('takes a Watchdog delivery as a heartbeat: no incident, no message', async () => {
    const res = await bot.deliver(watchdog());
    expect(res.status).toBe(200);
    expect(await jsonOf(res)).toEqual({ outcome: 'heartbeat' });
    // Never stored, so never ingested: its request's line at info is the beat's.
    const lines = logged.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'request' && l.path === '/alertmanager')).toEqual([
      expect.objectContaining({ level: 30, status: 200 }),
    ]);
    await checkNow(bot);
    const { rows } = await bot.app.pool.query(
      "SELECT (SELECT count(*)::int FROM incidents) AS incidents, last_seen_at > now() - interval '1 minute' AS fresh FROM heartbeats",
    );
    expect(rows).toEqual([{ incidents: 0, fresh: true }]);
    expect(bot.slack.emulator.allMessages()).toEqual([]);
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    const seen = /^incident_bot_heartbeat_last_seen_timestamp_seconds\{alertname="Watchdog"\} (\S+)$/m.exec(
      metrics,
    );
    expect(Math.abs(Number(seen?.[1]) - Date.now() / 1000)).toBeLessThan(60);
    expect(metrics).toContain('incident_bot_alertmanager_deliveries_total{outcome="heartbeat"} 1');
  });

  it('opens an incident for the real alerts of a group the Watchdog shares, and resolves it with them', async () => {
    // A route without group_by: Alertmanager's common labels are what the Watchdog shares with the rest.
    const mixed = (status: 'firing' | 'resolved') => {
      const group = payload({
        group: 'Everything',
        alerts: [
          { name: 'Watchdog', instance: 'prometheus', severity: 'none', labels: { service: 'prometheus' } },
          { name: 'CheckoutErrors', instance: 'pod-1', status },
        ],
      });
      return { ...group, groupKey: '{}:{}', groupLabels: {}, commonLabels: {}, status: 'firing' };
    };
    const opened = await jsonOf(await bot.deliver(mixed('firing')));
    expect(opened).toMatchObject({ outcome: 'created', incident: expect.stringMatching(/^INC-\d+$/) });
    const { rows } = await bot.app.pool.query('SELECT alertname FROM alerts');
    expect(rows).toEqual([{ alertname: 'CheckoutErrors' }]);
    // Routed on what the real alerts have in common (service=payments-api, severity=critical).
    const root = await waitFor(() => bot.slack.emulator.channelMessages(PAYMENTS)[0], 20_000, 'root message');
    expect(textOf(root)).toContain('CheckoutErrors');
    expect(textOf(root)).not.toContain('Watchdog');

    // The Watchdog still fires, so Alertmanager says "firing"; the incident's alerts all resolved.
    expect(await jsonOf(await bot.deliver(mixed('resolved')))).toMatchObject({ outcome: 'updated' });
    const incident = await bot.app.pool.query('SELECT state FROM incidents');
    expect(incident.rows).toEqual([{ state: 'resolved' }]);
    await waitForQueueIdle(bot.app.slackSync);
    expect(bot.slack.emulator.channelMessages(DEFAULT_CHANNEL)).toEqual([]);
  });

  it('says once, in the default channel, that alerting is silent, however many checkers find it', async () => {
    await silentFor(bot, '2 hours');
    await checkNow(bot, 6);
    const missing = heartbeatPosts(bot, 'missing');
    expect(missing).toHaveLength(1);
    expect(missing[0]!.channel).toBe(DEFAULT_CHANNEL);
    expect(missing[0]!.all).toContain('The alerting pipeline has been silent since <!date^');
    expect(missing[0]!.all).toContain('No *Watchdog* alert');
    expect(missing[0]!.all).toContain('for more than 1 h 0 min');
    // Still silent at the next checks: nothing more.
    await checkNow(bot, 3);
    expect(heartbeatPosts(bot, 'missing')).toHaveLength(1);
  });

  it('says once that it is back when the Watchdog arrives again, from every Alertmanager peer', async () => {
    const deliveries = await Promise.all([bot.deliver(watchdog()), bot.deliver(watchdog())]);
    expect(deliveries.map((r) => r.status)).toEqual([200, 200]);
    await waitFor(() => heartbeatPosts(bot, 'back').length > 0, 20_000, 'the back message');
    await checkNow(bot, 3);
    const back = heartbeatPosts(bot, 'back');
    expect(back).toHaveLength(1);
    expect(back[0]!.channel).toBe(DEFAULT_CHANNEL);
    expect(back[0]!.all).toContain('The alerting pipeline is back');
    // Two hours and the time the test took since it set them.
    expect(back[0]!.all).toMatch(/it had been silent for 2 h \d+ min, since <!date\^/);
    expect(heartbeatPosts(bot, 'missing')).toHaveLength(1);
    const { rows } = await bot.app.pool.query(
      'SELECT count(*)::int AS n FROM heartbeat_gaps WHERE missing_ts IS NULL OR back_ts IS NULL',
    );
    expect(rows[0].n).toBe(0);
  });

  it('logs a notification of the resolved heartbeat alone at info: no ingest line will say it came', async () => {
    const resolved = payload({
      group: 'Watchdog',
      alerts: [{ name: 'Watchdog', instance: 'prometheus', status: 'resolved' }],
    });
    expect(await jsonOf(await bot.deliver(resolved))).toEqual({ outcome: 'ignored' });
    const lines = logged.flatMap((chunk) => chunk.split('\n').filter(Boolean)).map((l) => JSON.parse(l));
    expect(lines.filter((l) => l.msg === 'request' && l.path === '/alertmanager').at(-1)).toMatchObject({
      level: 30,
      status: 200,
    });
  });

  it('tells a second silence again, once, when Slack took the post but its answer was lost', async () => {
    await silentFor(bot, '3 hours');
    bot.slack.emulator.failNext('chat.postMessage', { status: 500, accepted: true });
    await checkNow(bot);
    await waitFor(() => bot.slack.emulator.callsOf('conversations.history').length > 0, 20_000, 'a lookup');
    await waitForQueueIdle(bot.app.slackSync);
    expect(heartbeatPosts(bot, 'missing')).toHaveLength(2);
    expect((await bot.app.pool.query('SELECT count(*)::int AS n FROM slack_post_intents')).rows[0].n).toBe(0);
  });
});

describe('heartbeat: a pipeline that was never wired', () => {
  const bots: TestBot[] = [];
  afterEach(async () => {
    for (const bot of bots.splice(0)) await bot.stop();
  });

  it('is told after expectEvery from the first check, and back at the first Watchdog', async () => {
    // The clock starts at the first check; the checks run every second.
    const bot = await startTestBot({ configYaml: withHeartbeat('2s', 'Watchdog <!channel> & co') });
    bots.push(bot);
    const missing = await waitFor(() => heartbeatPosts(bot, 'missing')[0], 30_000, 'the silent message');
    expect(missing.channel).toBe(DEFAULT_CHANNEL);
    // The alertname is escaped: it pings nobody.
    expect(missing.all).toContain('Watchdog &lt;!channel&gt; &amp; co');
    expect(missing.all).not.toContain('<!channel>');

    expect(await jsonOf(await bot.deliver(watchdog('Watchdog <!channel> & co')))).toEqual({
      outcome: 'heartbeat',
    });
    const back = await waitFor(() => heartbeatPosts(bot, 'back')[0], 20_000, 'the back message');
    expect(back.all).not.toContain('<!channel>');
  });

  it('is not watched without a heartbeat in the config: the Watchdog is an alert like any other', async () => {
    const bot = await startTestBot();
    bots.push(bot);
    expect(await jsonOf(await bot.deliver(watchdog()))).toMatchObject({ outcome: 'created' });
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).not.toMatch(/^incident_bot_heartbeat_last_seen_timestamp_seconds\{/m);
  });
});

describeWithAlertmanager("heartbeat through a real Alertmanager and the example's Watchdog route", () => {
  let bot: TestBot;
  let cluster: AlertmanagerCluster | undefined;
  beforeAll(async () => {
    bot = await startTestBot({ configYaml: withHeartbeat('2s') });
    cluster = await startAlertmanagerCluster({
      webhookUrls: [`${bot.url}/alertmanager`],
      token: TEST_SECRETS.alertmanagerToken,
      // Nothing arrives by the main route within the test: the Watchdog comes by a route of its own.
      groupWait: '1h',
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await bot?.stop();
  });

  it('is back when Prometheus fires the Watchdog, which the Watchdog route sends at once', async () => {
    await waitFor(() => heartbeatPosts(bot, 'missing')[0], 30_000, 'the silent message');
    await cluster!.fire([
      { labels: { alertname: 'Watchdog', severity: 'none' }, startsAt: new Date().toISOString() },
    ]);
    await waitFor(() => heartbeatPosts(bot, 'back')[0], 30_000, 'the back message');
    const { rows } = await bot.app.pool.query('SELECT count(*)::int AS n FROM incidents');
    expect(rows[0].n).toBe(0);
  });
});
