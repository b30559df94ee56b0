import { createHmac, timingSafeEqual } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inTransaction } from '../../src/db/pool.js';
import { resolveIncident } from '../../src/incidents/lifecycle.js';
import { requestPage } from '../../src/paging/pages.js';
import { QueuedPageEffects } from '../../src/queues/pageJobs.js';
import { payload } from '../support/alertmanager.js';
import { type PagerStandIn, type RecordedPage, startPagerStandIn } from '../support/pagerStandIn.js';
import { clearRedisPrefix, waitFor, waitForQueueIdle } from '../support/services.js';
import { SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * Pages as a projection of the incident: PagerDuty and a signed webhook, played by recording stand-ins
 * over real HTTP; the bot with real PostgreSQL and Redis.
 */

const CHANNEL = 'C0PAYMENTS';
const ROUTING_KEY = 'R0UTINGKEYtest0123456789abcdefab';
const WEBHOOK_SECRET = 'page-webhook-secret-0123456789';

describe('paging', () => {
  let pagerDuty: PagerStandIn;
  let webhook: PagerStandIn;
  let bot: TestBot;
  /** A restarted bot's prefix, its first run's: the restart's stop() clears only the one it made. */
  let sharedPrefix: string | undefined;

  /** The bot; given the database and queue prefix of one that stopped, its restart. */
  const startBot = (database?: TestBot['database'], queuePrefix?: string) =>
    startTestBot({
      ...(database ? { database } : {}),
      configYaml: `${DEFAULT_TEST_CONFIG}
escalation:
  policies:
    paged:
      steps:
        - { after: 0, notify: [${SRE.bob}], page: oncall-pagerduty }
        - { after: 2s, notify: [${SRE.carol}], page: ops-webhook }
  routes:
    - { matchers: ['team=paged'], policy: paged }
pagers:
  oncall-pagerduty: { type: pagerduty, routingKeyEnv: TEST_PAGERDUTY_ROUTING_KEY }
  ops-webhook: { type: webhook, url: '${webhook.url}/page', secretEnv: TEST_PAGE_WEBHOOK_SECRET }
`,
      env: {
        PAGERDUTY_EVENTS_URL: `${pagerDuty.url}/v2/enqueue`,
        TEST_PAGERDUTY_ROUTING_KEY: ROUTING_KEY,
        TEST_PAGE_WEBHOOK_SECRET: WEBHOOK_SECRET,
        ...(queuePrefix ? { QUEUE_PREFIX: queuePrefix } : {}),
      },
    });

  beforeAll(async () => {
    pagerDuty = await startPagerStandIn();
    webhook = await startPagerStandIn();
    bot = await startBot();
  });
  afterAll(async () => {
    await bot?.stop();
    if (sharedPrefix) await clearRedisPrefix(sharedPrefix);
    await pagerDuty?.close();
    await webhook?.close();
  });

  const open = async (group: string) => {
    const answer = await jsonOf(await bot.deliver(payload({ group, alerts: [{ instance: 'pod-1' }] })));
    const ref = answer.incident as string;
    return { ref, id: Number(ref.slice(4)) };
  };
  /** What an escalation step does: request the page in its transaction, then tell page sync. */
  const page = async (incidentId: number, pager: string) => {
    await inTransaction(bot.app.pool, (db) => requestPage(db, { incidentId, pager, step: 1 }));
    await new QueuedPageEffects(bot.app.pages).pagesChanged(incidentId);
  };
  const dedupKeyOf = async (id: number, pager: string) =>
    (
      await bot.app.pool.query<{ key: string }>(
        'SELECT dedup_key AS key FROM incident_pages WHERE incident_id = $1 AND pager = $2',
        [id, pager],
      )
    ).rows[0]!.key;
  const pagerDutyEvents = (key: string) => pagerDuty.received.filter((r) => r.body.dedup_key === key);
  const webhookEvents = (key: string) => webhook.received.filter((r) => r.body.dedupKey === key);
  const actionsOf = (events: RecordedPage[]) =>
    events.map((e) => `${e.body.event_action ?? e.body.event}:${e.status}`);
  const entries = async (id: number, kind: string) =>
    (
      await bot.app.pool.query<{ data: Record<string, unknown> }>(
        'SELECT data FROM timeline_entries WHERE incident_id = $1 AND kind = $2 ORDER BY id',
        [id, kind],
      )
    ).rows.map((r) => r.data);
  const threadText = async (id: number) => {
    const { rows } = await bot.app.pool.query('SELECT root_ts FROM incidents WHERE id = $1', [id]);
    return JSON.stringify(bot.slack.emulator.threadOf(CHANNEL, rows[0]?.root_ts).map((m) => m.blocks));
  };
  const pagesMetric = async (outcome: string) => {
    const metric = await bot.app.metrics.registry.getSingleMetric('incident_bot_pages_total')!.get();
    return metric.values.filter((v) => v.labels.outcome === outcome).reduce((n, v) => n + v.value, 0);
  };

  it('triggers on request, acknowledges when acknowledged, resolves on resolve and triggers again on reopen', async () => {
    const { ref, id } = await open('PagedByEscalation');
    await page(id, 'oncall-pagerduty');
    const key = await dedupKeyOf(id, 'oncall-pagerduty');
    expect(key).toMatch(new RegExp(`^incident-bot:${ref}:oncall-pagerduty:[0-9a-f]{12}$`));
    const [trigger] = await waitFor(
      () => pagerDutyEvents(key).length === 1 && pagerDutyEvents(key),
      20_000,
      'trigger',
    );
    expect(trigger!.path).toBe('/v2/enqueue');
    expect(trigger!.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: key,
      payload: {
        summary: `${ref} [P0] PagedByEscalation`,
        source: 'payments-api',
        severity: 'critical',
        timestamp: expect.any(String),
        custom_details: {
          incident: ref,
          severity: 'P0',
          status: 'investigating',
          labels: { alertname: 'PagedByEscalation', service: 'payments-api', severity: 'critical' },
        },
      },
      client: 'incident-bot',
      client_url: 'http://alertmanager.example:9093',
    });
    await waitFor(
      async () => (await threadText(id)).includes('📟 Paged through *oncall-pagerduty*'),
      20_000,
      'thread',
    );

    // The next step asking for the same pager is the same page.
    await page(id, 'oncall-pagerduty');
    expect(await entries(id, 'page_requested')).toEqual([{ pager: 'oncall-pagerduty', step: 1 }]);

    await slashCommand(bot, `ack ${ref}`, { user: SRE.bob });
    await waitFor(() => pagerDutyEvents(key).length === 2, 20_000, 'acknowledge');
    expect(pagerDutyEvents(key)[1]!.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'acknowledge',
      dedup_key: key,
    });

    await bot.deliver(
      payload({ group: 'PagedByEscalation', alerts: [{ instance: 'pod-1', status: 'resolved' }] }),
    );
    await waitFor(() => pagerDutyEvents(key).length === 3, 20_000, 'resolve');
    expect(pagerDutyEvents(key)[2]!.body).toEqual({
      routing_key: ROUTING_KEY,
      event_action: 'resolve',
      dedup_key: key,
    });

    // Reopened: the acknowledgement is cleared and the pager rings again, under the same key.
    const again = await bot.deliver(
      payload({
        group: 'PagedByEscalation',
        alerts: [{ instance: 'pod-1', startsAt: '2026-11-23T10:00:00Z' }],
      }),
    );
    expect((await jsonOf(again)).outcome).toBe('reopened');
    await waitFor(() => pagerDutyEvents(key).length === 4, 20_000, 'trigger again');
    await waitForQueueIdle(bot.app.pages);
    expect(actionsOf(pagerDutyEvents(key))).toEqual([
      'trigger:202',
      'acknowledge:202',
      'resolve:202',
      'trigger:202',
    ]);
    await waitFor(
      async () => (await threadText(id)).includes('📟 Sent the resolution to *oncall-pagerduty*'),
      20_000,
      'thread',
    );
    expect(await threadText(id)).toContain('📟 Sent the acknowledgement to *oncall-pagerduty*');
  });

  it('signs each webhook page: it verifies with the secret, not with another; resolving by hand resolves it', async () => {
    const { ref, id } = await open('PagedByWebhook');
    await page(id, 'ops-webhook');
    const key = await dedupKeyOf(id, 'ops-webhook');
    const [trigger] = await waitFor(
      () => webhookEvents(key).length === 1 && webhookEvents(key),
      20_000,
      'trigger',
    );
    expect(trigger!.path).toBe('/page');
    expect(JSON.parse(trigger!.raw)).toEqual({
      event: 'trigger',
      dedupKey: key,
      incident: {
        ref,
        title: 'PagedByWebhook',
        severity: 'P0',
        status: 'investigating',
        url: 'http://alertmanager.example:9093',
        labels: { alertname: 'PagedByWebhook', service: 'payments-api', severity: 'critical' },
      },
      sentAt: expect.any(String),
    });
    expect(trigger!.headers['idempotency-key']).toBe(`${key}:0:trigger`);
    const timestamp = String(trigger!.headers['x-incident-bot-timestamp']);
    expect(Math.abs(Number(timestamp) - Date.now() / 1000)).toBeLessThan(300);
    // The README's verification, as a receiver would do it.
    const verifies = (secret: string) => {
      const expected = Buffer.from(
        `sha256=${createHmac('sha256', secret).update(`${timestamp}.${trigger!.raw}`).digest('hex')}`,
      );
      const given = Buffer.from(String(trigger!.headers['x-incident-bot-signature']));
      return given.length === expected.length && timingSafeEqual(given, expected);
    };
    expect(verifies(WEBHOOK_SECRET)).toBe(true);
    expect(verifies('another-secret-0123456789')).toBe(false);

    const { effects } = bot.app;
    await resolveIncident(
      { pool: bot.app.pool, config: bot.config.file, effects },
      id,
      'rolled back',
      SRE.alice,
    );
    await waitFor(() => webhookEvents(key).length === 2, 20_000, 'resolve');
    expect(webhookEvents(key)[1]!.body.event).toBe('resolve');
    expect(webhookEvents(key)[1]!.headers['idempotency-key']).toBe(`${key}:0:resolve`);
  });

  it('retries a page that fails, and tells the thread once of the failure and once of the recovery', async () => {
    const { id } = await open('PagerDutyDown');
    pagerDuty.answerNext(500, 503);
    await page(id, 'oncall-pagerduty');
    const key = await dedupKeyOf(id, 'oncall-pagerduty');
    await waitFor(() => pagerDutyEvents(key).length === 3, 30_000, 'two retries');
    await waitForQueueIdle(bot.app.pages);
    expect(actionsOf(pagerDutyEvents(key))).toEqual(['trigger:500', 'trigger:503', 'trigger:202']);
    expect(await entries(id, 'page_failed')).toEqual([
      {
        pager: 'oncall-pagerduty',
        action: 'trigger',
        error: 'HTTP 500: Event object is invalid: status 500',
        retrying: true,
      },
    ]);
    expect(await entries(id, 'page_recovered')).toEqual([
      { pager: 'oncall-pagerduty', action: 'trigger', failedAttempts: 2, failingSince: expect.any(String) },
    ]);
    expect(await entries(id, 'page_sent')).toEqual([]);
    await waitFor(
      async () => (await threadText(id)).includes('took the page after 2 failed tries'),
      20_000,
      'recovery in the thread',
    );
    const thread = await threadText(id);
    expect(thread.match(/Could not send the page/g)).toHaveLength(1);
    expect(thread).toContain('_Retrying until it goes through._');
    expect(thread).not.toContain(ROUTING_KEY);
  });

  it('shows a refused page and does not send it again', async () => {
    const { ref, id } = await open('WebhookRefuses');
    webhook.answerNext(400);
    await page(id, 'ops-webhook');
    const key = await dedupKeyOf(id, 'ops-webhook');
    await waitFor(async () => (await entries(id, 'page_failed')).length === 1, 20_000, 'refusal recorded');
    expect(await entries(id, 'page_failed')).toEqual([
      {
        pager: 'ops-webhook',
        action: 'trigger',
        error: 'HTTP 400: Event object is invalid: status 400',
        retrying: false,
      },
    ]);
    await waitFor(
      async () => (await threadText(id)).includes('_Refused: tried again when'),
      20_000,
      'thread',
    );
    expect(await pagesMetric('refused')).toBeGreaterThanOrEqual(1);
    // A sweep finds nothing to do for it, and a later job neither.
    await bot.app.pages.add('sweep', { kind: 'sweep' });
    await new QueuedPageEffects(bot.app.pages).pagesChanged(id);
    await waitForQueueIdle(bot.app.pages);
    expect(actionsOf(webhookEvents(key))).toEqual(['trigger:400']);
    // Acknowledged, then resolved: the pager never rang, so there is nothing to stop.
    await slashCommand(bot, `ack ${ref}`, { user: SRE.carol });
    await bot.deliver(
      payload({ group: 'WebhookRefuses', alerts: [{ instance: 'pod-1', status: 'resolved' }] }),
    );
    await waitFor(
      async () =>
        (await bot.app.pool.query('SELECT state FROM incidents WHERE id = $1', [id])).rows[0].state ===
        'resolved',
    );
    await new QueuedPageEffects(bot.app.pages).pagesChanged(id);
    await waitForQueueIdle(bot.app.pages);
    expect(actionsOf(webhookEvents(key))).toEqual(['trigger:400']);
    // Reopened: it is tried again, and this time taken.
    await bot.deliver(
      payload({ group: 'WebhookRefuses', alerts: [{ instance: 'pod-1', startsAt: '2026-11-23T10:00:00Z' }] }),
    );
    await waitFor(() => webhookEvents(key).length === 2, 20_000, 'the trigger of the reopened incident');
    expect(actionsOf(webhookEvents(key))).toEqual(['trigger:400', 'trigger:202']);
    await waitFor(async () => (await entries(id, 'page_recovered')).length === 1, 20_000, 'recovery');
    expect(await entries(id, 'page_failed')).toHaveLength(1);
  });

  it('pages at each escalation step; a page that keeps failing holds up neither the next step nor its page', async () => {
    // PagerDuty fails until the second step's page has gone through.
    pagerDuty.fallback = 500;
    const answer = await jsonOf(
      await bot.deliver(
        payload({
          group: 'EscalatedAndPaged',
          alerts: [{ instance: 'pod-1' }],
          commonLabels: { team: 'paged' },
        }),
      ),
    );
    const ref = answer.incident as string;
    const id = Number(ref.slice(4));
    await waitFor(
      async () => (await entries(id, 'page_failed')).length === 1,
      20_000,
      'the first page failing',
    );
    // The second step comes at its time, and its page goes through, while PagerDuty still fails.
    const webhookKey = await waitFor(
      async () =>
        (await bot.app.pool.query('SELECT 1 FROM incident_pages WHERE incident_id = $1', [id])).rowCount ===
          2 && dedupKeyOf(id, 'ops-webhook'),
      20_000,
      'the second step',
    );
    await waitFor(() => webhookEvents(webhookKey).length === 1, 20_000, "the second step's page");
    pagerDuty.fallback = 202;
    const pagerDutyKey = await dedupKeyOf(id, 'oncall-pagerduty');
    expect(await entries(id, 'page_requested')).toEqual([
      { pager: 'oncall-pagerduty', step: 1 },
      { pager: 'ops-webhook', step: 2 },
    ]);
    await waitFor(
      () => pagerDutyEvents(pagerDutyKey).some((e) => e.status === 202),
      30_000,
      'PagerDuty back',
    );

    await slashCommand(bot, `ack ${ref}`, { user: SRE.carol });
    await waitFor(
      () =>
        actionsOf(pagerDutyEvents(pagerDutyKey)).includes('acknowledge:202') &&
        webhookEvents(webhookKey).length === 2,
      20_000,
      'both acknowledged',
    );
    await waitForQueueIdle(bot.app.pages);
    expect(actionsOf(pagerDutyEvents(pagerDutyKey)).join(' ')).toMatch(
      /^(trigger:500 )+trigger:202 acknowledge:202$/,
    );
    expect(actionsOf(webhookEvents(webhookKey))).toEqual(['trigger:202', 'acknowledge:202']);
    expect(await entries(id, 'page_failed')).toHaveLength(1);
    expect(await entries(id, 'page_recovered')).toHaveLength(1);
  });

  it('after a restart, sends what changed while it was down, once, nothing it had sent, and tries a refused page again', async () => {
    const refused = await open('RefusedBeforeRestart');
    webhook.answerNext(400);
    await page(refused.id, 'ops-webhook');
    const refusedKey = await dedupKeyOf(refused.id, 'ops-webhook');
    await waitFor(() => webhookEvents(refusedKey).length === 1, 20_000, 'the refusal');
    const { id } = await open('PagedAcrossRestart');
    await page(id, 'oncall-pagerduty');
    const key = await dedupKeyOf(id, 'oncall-pagerduty');
    await waitFor(() => pagerDutyEvents(key).length === 1, 20_000, 'trigger');
    await waitForQueueIdle(bot.app.pages);
    // Stopped as a crash or a deploy would: its database and its queues in Redis stay.
    await bot.app.stop();
    await bot.slack.close();
    // Acknowledged while no worker ran, and its page-sync job lost with it.
    const { database } = bot;
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query(
      "UPDATE incidents SET acknowledged_by = 'U0ALICE', acknowledged_at = now(), version = version + 1 WHERE id = $1",
      [id],
    );
    await client.end();
    sharedPrefix = bot.env.QUEUE_PREFIX!;
    bot = await startBot(database, sharedPrefix);
    await waitFor(() => pagerDutyEvents(key).length === 2, 20_000, 'acknowledge after the restart');
    await waitForQueueIdle(bot.app.pages);
    expect(actionsOf(pagerDutyEvents(key))).toEqual(['trigger:202', 'acknowledge:202']);
    // The secret or the config was fixed, say: the refused page is tried again, and taken.
    expect(actionsOf(webhookEvents(refusedKey))).toEqual(['trigger:400', 'trigger:202']);
  });
});
