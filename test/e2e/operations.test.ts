import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { startChild } from '../support/childWorker.js';
import { untilIngested } from '../support/deliveries.js';
import { createTestDatabase, waitFor, waitForQueueIdle } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, jsonOf, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const RECORDER = new URL('../fixtures/record-run.mjs', import.meta.url).pathname;
const CHANNEL = 'C0PAYMENTS';
// Passwords only ever used here, so that finding one in the log can only mean it leaked. The test
// database trusts local connections, so it accepts DATABASE_URL with any password.
const DB_PASSWORD = 'db-pass-Zq8wXk3vR7';
const PROBE_PASSWORD = 'probe-pass-Hn4tLp9sW2';

const config = `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    checks:
      - { name: payments-db, kind: postgres, connectionEnv: PAYMENTS_DB_URL }
    actions:
      - name: scale
        description: Scale the payments-api deployment
        kind: scale
        driver: { type: command, argv: [node, ${RECORDER}, scale, '{{replicas}}'], env: { allow: [RUN_LOG] } }
        params: { replicas: { type: integer, min: 1, max: 50 } }
        approval: { approvers: [U0BOB], required: 1 }
`;

interface LogLine {
  level: number;
  msg: string;
  requestId?: string;
  incidentId?: number;
  jobId?: string;
  queue?: string;
  [key: string]: unknown;
}

/**
 * One incident's whole story, alert to resolution, with the bot logging at debug level into memory:
 * the log must carry the request, incident and job ids and none of the secrets, and /metrics must
 * count what happened.
 */
describe('operating the bot: logs and metrics of a full flow', () => {
  let bot: TestBot;
  const written: string[] = [];
  let incidentId: number;
  let metrics: string;
  let deliveryRequestId: string | null;

  beforeAll(async () => {
    process.env.RUN_LOG = join(await mkdtemp(join(tmpdir(), 'ops-')), 'runs.jsonl');
    process.env.PAYMENTS_DB_URL = `postgres://probe:${PROBE_PASSWORD}@127.0.0.1:1/payments`;
    const database = await createTestDatabase();
    const url = new URL(database.url);
    url.password = DB_PASSWORD;
    bot = await startTestBot({
      configYaml: config,
      database,
      env: { DATABASE_URL: url.toString() },
      logTo: { write: (line: string) => written.push(line) },
    });

    // Slack answers the first message with a 429: the bot waits and retries.
    bot.slack.emulator.failNext('chat.postMessage', { status: 429, retryAfterSeconds: 1 });
    const alert = payload({ group: 'CheckoutErrors', alerts: [{ instance: 'pod-1' }] });
    const first = await untilIngested(
      bot.app.pool,
      () => bot.app.deliveriesIdle(),
      await bot.post('/alertmanager', alert, {
        authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}`,
        'x-request-id': 'am-delivery-42',
      }),
    );
    deliveryRequestId = first.headers.get('x-request-id');
    const created = (await first.json()) as { outcome: string; incident: string };
    expect(created.outcome).toBe('created');
    incidentId = Number(created.incident.replace('INC-', ''));
    expect((await jsonOf(await bot.deliver(alert))).outcome).toBe('duplicate');
    // Resolved, of a group with no incident: stored, and ingested to nothing.
    const nothingOpen = payload({
      group: 'NeverOpened',
      alerts: [{ instance: 'pod-9', status: 'resolved' }],
    });
    await untilIngested(bot.app.pool, () => bot.app.deliveriesIdle(), await bot.deliver(nothingOpen));
    expect((await bot.deliver({ version: '4' })).status).toBe(400);
    await waitFor(() => bot.slack.emulator.channelMessages(CHANNEL)[0], 20_000, 'the incident in Slack');

    const ref = `INC-${incidentId}`;
    expect((await slashCommand(bot, `note ${ref} Scaling up`, { channel: CHANNEL })).status).toBe(200);
    await slashCommand(bot, 'payments-api', { channel: CHANNEL, command: '/health' });
    // The channel's one open incident: the result goes to its thread.
    const root = bot.slack.emulator.channelMessages(CHANNEL)[0]!;
    await waitFor(
      () => bot.slack.emulator.threadOf(CHANNEL, root.ts).find((m) => m.text.includes('Health')),
      20_000,
      'the health check result',
    );
    const requested = await slashCommand(bot, 'scale payments-api replicas=3', {
      channel: CHANNEL,
      command: '/action',
    });
    const actionId = /Requested ACT-(\d+)/.exec(requested.text)![1]!;
    await clickOn(bot, 'request', actionId, 'action_approve', { user: SRE.bob });
    await waitFor(
      async () =>
        (await bot.app.pool.query('SELECT status FROM action_requests WHERE id = $1', [Number(actionId)]))
          .rows[0]?.status === 'succeeded',
      20_000,
      'the action to succeed',
    );
    await slashCommand(bot, `resolve ${ref} Scaled up`, { channel: CHANNEL });
    await waitForQueueIdle(bot.app.slackSync);
    await waitForQueueIdle(bot.app.actions, 20_000, ['expire']);
    await waitForQueueIdle(bot.app.health);
    metrics = await (await fetch(`${bot.url}/metrics`)).text();
  }, 120_000);
  afterAll(async () => {
    await bot?.stop();
    delete process.env.PAYMENTS_DB_URL;
  });

  const lines = () => written.flatMap((chunk) => chunk.split('\n').filter(Boolean));
  const parsed = () => lines().map((line) => JSON.parse(line) as LogLine);

  it('writes one JSON object per line', () => {
    expect(parsed().length).toBeGreaterThan(20);
  });

  it('never writes a secret it was given, in any form', () => {
    const log = written.join('');
    for (const secret of [
      TEST_SECRETS.botToken,
      TEST_SECRETS.signingSecret,
      TEST_SECRETS.alertmanagerToken,
      DB_PASSWORD,
      PROBE_PASSWORD,
    ]) {
      expect(log).not.toContain(secret);
      expect(log).not.toContain(encodeURIComponent(secret));
    }
  });

  it('replaces an X-Request-Id that does not look like an id with one of its own', async () => {
    const res = await fetch(`${bot.url}/healthz`, {
      headers: { 'x-request-id': 'a "quoted" id; with=spaces' },
    });
    expect(res.headers.get('x-request-id')).toMatch(
      /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    );
  });

  it('keeps a sane X-Request-Id, answers with it and logs the request under it', () => {
    expect(deliveryRequestId).toBe('am-delivery-42');
    const request = parsed().find((l) => l.msg === 'request' && l.requestId === 'am-delivery-42');
    // Stored, then ingested: the line names the delivery, whose record names the incident.
    expect(request).toMatchObject({ path: '/alertmanager', status: 200, deliveryId: expect.any(Number) });
    // The ingest that the request woke is not logged as that request's.
    expect(parsed().filter((l) => l.requestId === 'am-delivery-42')).toEqual([request]);
    expect(parsed().find((l) => l.msg === 'alertmanager delivery ingested')).toMatchObject({
      deliveryId: request?.deliveryId,
      outcome: 'created',
      incidentId,
    });
  });

  it("logs the webhook's answers at debug, and at info what a stored delivery changed once ingested", () => {
    const deliveries = parsed().filter((l) => l.msg === 'request' && l.path === '/alertmanager');
    const [stored, repeat, , refused] = deliveries;
    // The line the ingest writes says more: what came of it.
    expect(stored).toMatchObject({ level: 20, status: 200, deliveryId: expect.any(Number) });
    expect(repeat).toMatchObject({ level: 20, status: 200, incidentId });
    expect(repeat?.deliveryId).toBeUndefined();
    expect(refused).toMatchObject({ level: 30, status: 400 });
    expect(parsed().filter((l) => l.msg === 'alertmanager delivery ingested')).toEqual([
      expect.objectContaining({ level: 30, deliveryId: stored?.deliveryId, outcome: 'created', incidentId }),
      // It changed nothing: at debug, as a repeat's request.
      expect.objectContaining({ level: 20, deliveryId: deliveries[2]?.deliveryId, outcome: 'ignored' }),
    ]);
  });

  it('gives every request an id, and the lines of a Slack command carry it and the incident', () => {
    const requests = parsed().filter((l) => l.msg === 'request');
    expect(requests.every((l) => typeof l.requestId === 'string' && l.requestId.length > 0)).toBe(true);
    expect(new Set(requests.map((l) => l.requestId)).size).toBe(requests.length);
    const slack = requests.filter((l) => l.path === '/slack/events');
    expect(slack.length).toBeGreaterThanOrEqual(5);
    expect(slack.some((l) => l.incidentId === incidentId)).toBe(true);
  });

  it('logs each job with its id and queue, and the incident it is about', () => {
    const jobs = parsed().filter((l) => l.msg === 'job');
    for (const queue of ['slack-sync', 'actions', 'health-checks'])
      expect(jobs.some((l) => l.queue === queue && typeof l.jobId === 'string')).toBe(true);
    expect(jobs.some((l) => l.queue === 'slack-sync' && l.incidentId === incidentId)).toBe(true);
    expect(jobs.some((l) => l.queue === 'actions' && l.incidentId === undefined)).toBe(true);
  });

  /** The value of one series, e.g. `incident_bot_open_incidents{severity="P0"}`. */
  const value = (series: string) => {
    const line = metrics.split('\n').find((l) => l.startsWith(`${series} `));
    return line === undefined ? undefined : Number(line.slice(series.length + 1));
  };

  it('counts deliveries by outcome, the deduplicated ones included', () => {
    expect(value('incident_bot_alertmanager_deliveries_total{outcome="created"}')).toBe(1);
    expect(value('incident_bot_alertmanager_deliveries_total{outcome="duplicate"}')).toBe(1);
    expect(value('incident_bot_alertmanager_deliveries_total{outcome="ignored"}')).toBe(1);
    expect(value('incident_bot_alertmanager_deliveries_total{outcome="http_400"}')).toBe(1);
    expect(value('incident_bot_alertmanager_request_duration_seconds_count')).toBe(4);
  });

  it('reads open incidents by severity from Postgres at each scrape', async () => {
    // Resolved by now: every severity reads 0.
    for (const severity of ['P0', 'P1', 'P2', 'P3', 'P4'])
      expect(value(`incident_bot_open_incidents{severity="${severity}"}`)).toBe(0);
    await bot.deliver(payload({ group: 'LatencyHigh', alerts: [{ instance: 'pod-2' }] }));
    const scraped = await (await fetch(`${bot.url}/metrics`)).text();
    expect(scraped).toContain('incident_bot_open_incidents{severity="P0"} 1\n');
  });

  it('counts Slack API calls by method and outcome, 429s included', () => {
    expect(
      value('incident_bot_slack_api_calls_total{method="chat.postMessage",outcome="rate_limited"}'),
    ).toBe(1);
    expect(
      value('incident_bot_slack_api_calls_total{method="chat.postMessage",outcome="ok"}'),
    ).toBeGreaterThan(1);
    expect(value('incident_bot_slack_api_calls_total{method="chat.update",outcome="ok"}')).toBeGreaterThan(0);
  });

  it('shows the depth of every queue by state', () => {
    for (const queue of ['slack-sync', 'incident-tasks', 'actions', 'health-checks'])
      for (const state of ['waiting', 'active', 'delayed', 'failed'])
        expect(value(`incident_bot_queue_jobs{queue="${queue}",state="${state}"}`)).toBeGreaterThanOrEqual(0);
    // Idle by now, but for the periodic reconcile and sweep jobs.
    expect(value('incident_bot_queue_jobs{queue="actions",state="active"}')).toBe(0);
    expect(value('incident_bot_queue_jobs{queue="slack-sync",state="delayed"}')).toBe(1);
  });

  it('times the jobs of every queue that ran one', () => {
    for (const queue of ['slack-sync', 'actions', 'health-checks'])
      expect(value(`incident_bot_job_duration_seconds_count{queue="${queue}",outcome="ok"}`)).toBeGreaterThan(
        0,
      );
  });

  it('counts votes by decision and action runs by outcome', () => {
    expect(value('incident_bot_approval_votes_total{decision="approve"}')).toBe(1);
    expect(value('incident_bot_action_runs_total{outcome="succeeded"}')).toBe(1);
  });

  it('measures how long Slack took to show each change, the 429 wait included', () => {
    const count = value('incident_bot_slack_sync_lag_seconds_count')!;
    expect(count).toBeGreaterThan(0);
    // The first root message waited out a one-second Retry-After.
    expect(value('incident_bot_slack_sync_lag_seconds_bucket{le="0.5"}')).toBeLessThan(count);
    expect(value('incident_bot_slack_sync_lag_seconds_sum')).toBeGreaterThanOrEqual(1);
  });
});

describe('incident-bot worker serves health and metrics on its own port', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({ worker: false });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('answers /healthz, /readyz and /metrics, and nothing else', async () => {
    const worker = await startChild(bot, ['worker']);
    try {
      const url = `http://127.0.0.1:${worker.port}`;
      expect((await fetch(`${url}/healthz`)).status).toBe(200);
      expect(await (await fetch(`${url}/readyz`)).json()).toEqual({ status: 'ready' });
      await bot.deliver(payload({ group: 'WorkerMetrics', alerts: [{ instance: 'pod-3' }] }));
      const scraped = await waitFor(
        async () => {
          const text = await (await fetch(`${url}/metrics`)).text();
          return text.includes('incident_bot_slack_api_calls_total{method="chat.postMessage",outcome="ok"} 1')
            ? text
            : undefined;
        },
        20_000,
        'the worker to post the incident',
      );
      expect(scraped).toMatch(
        /incident_bot_job_duration_seconds_count\{queue="slack-sync",outcome="ok"\} [1-9]/,
      );
      expect(scraped).toContain('incident_bot_open_incidents{severity="P0"} 1');
      expect((await fetch(`${url}/alertmanager`, { method: 'POST' })).status).toBe(404);
      expect((await fetch(`${url}/slack/events`, { method: 'POST' })).status).toBe(404);
    } finally {
      process.kill(-worker.process.pid!, 'SIGTERM');
      expect(await worker.exited).toBe(0);
    }
  });
});

describe('/metrics while Redis is unreachable', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({ worker: false, env: { REDIS_URL: 'redis://127.0.0.1:1' } });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('still answers at once, with what Postgres knows and no queue series', async () => {
    const started = Date.now();
    const res = await fetch(`${bot.url}/metrics`);
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('incident_bot_open_incidents{severity="P0"} 0');
    expect(text).not.toMatch(/^incident_bot_queue_jobs\{/m);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});
