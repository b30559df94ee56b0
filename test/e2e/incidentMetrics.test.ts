import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { slashCommand, submitView } from '../support/slackRequests.js';
import { jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * The incident numbers on /metrics, read over HTTP from two `serve` replicas sharing PostgreSQL, Redis
 * and Slack: what both are sent at once (as Alertmanager's HA peers and Slack's retries do) is counted
 * once, by the replica whose write took.
 */

/** A series' value on one replica's /metrics, 0 when it has none. */
async function scraped(bot: TestBot, series: string): Promise<number> {
  const body = await (await fetch(`${bot.url}/metrics`)).text();
  const line = body.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

describe('incident metrics across two replicas', () => {
  let bot: TestBot;
  let replica: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
    // The same deployment: its database, its queues and its Slack.
    replica = await startTestBot({
      database: bot.database,
      worker: false,
      env: { QUEUE_PREFIX: bot.env.QUEUE_PREFIX!, SLACK_API_URL: bot.env.SLACK_API_URL! },
    });
  });
  afterAll(async () => {
    await replica?.stop({ keepDatabase: true });
    await bot?.stop();
  });

  const both = async (series: string) => (await scraped(bot, series)) + (await scraped(replica, series));
  const toBoth = async (alerts: AlertSpec[]) => {
    const body = payload({ group: 'CheckoutLatency', alerts });
    const answers = await Promise.all([bot.deliver(body), replica.deliver(body)]);
    for (const res of answers) expect(res.status).toBe(200);
    return Promise.all(answers.map(jsonOf));
  };
  const openedAgo = (id: number, minutes: number) =>
    bot.app.pool.query("UPDATE incidents SET opened_at = now() - $2 * interval '1 minute' WHERE id = $1", [
      id,
      minutes,
    ]);
  const RESOLVE_COUNT = 'incident_bot_time_to_resolve_seconds_count{severity="P0"}';
  const RESOLVE_SUM = 'incident_bot_time_to_resolve_seconds_sum{severity="P0"}';
  const REOPENED = 'incident_bot_incidents_reopened_total{severity="P0"}';

  it('measures a resolution by its alerts once, from when the incident opened', async () => {
    const opened = await jsonOf(
      await bot.deliver(payload({ group: 'CheckoutLatency', alerts: [{ instance: 'pod-1' }] })),
    );
    expect(opened.outcome).toBe('created');
    const id = Number((opened.incident as string).slice(4));
    await openedAgo(id, 120);

    const answers = await toBoth([{ instance: 'pod-1', status: 'resolved' }]);
    // One resolves it; the other finds it resolved (ignored) or the same (duplicate).
    expect(answers.filter((a) => a.outcome === 'updated')).toHaveLength(1);
    expect(await both(RESOLVE_COUNT)).toBe(1);
    const seconds = await both(RESOLVE_SUM);
    expect(seconds).toBeGreaterThanOrEqual(7200);
    expect(seconds).toBeLessThan(7200 + 60);
  });

  it('counts a reopen once, and measures its resolution from the reopening', async () => {
    const answers = await toBoth([{ instance: 'pod-1', startsAt: '2026-11-23T10:00:00Z' }]);
    expect(answers.filter((a) => a.outcome === 'reopened')).toHaveLength(1);
    expect(await both(REOPENED)).toBe(1);
    // The deliveries counter says the same of the delivery that reopened it.
    expect(await both('incident_bot_alertmanager_deliveries_total{outcome="reopened"}')).toBe(1);

    const id = Number((answers[0]!.incident as string).slice(4));
    await openedAgo(id, 30);
    const before = await both(RESOLVE_SUM);
    const resolved = await toBoth([
      { instance: 'pod-1', status: 'resolved', startsAt: '2026-11-23T10:00:00Z' },
    ]);
    expect(resolved.filter((a) => a.outcome === 'updated')).toHaveLength(1);
    expect(await both(RESOLVE_COUNT)).toBe(2);
    const seconds = (await both(RESOLVE_SUM)) - before;
    expect(seconds).toBeGreaterThanOrEqual(1800);
    expect(seconds).toBeLessThan(1800 + 60);
  });

  it('measures a resolution by /incident resolve once, a retried command on the other replica counting nothing', async () => {
    const declared = await slashCommand(bot, 'declare P0 Card payments failing');
    const ref = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    await openedAgo(Number(ref.slice(4)), 45);
    const before = { count: await both(RESOLVE_COUNT), sum: await both(RESOLVE_SUM) };
    const command = { trigger: `resolve-${Date.now()}` };
    const answers = await Promise.all([
      slashCommand(bot, `resolve ${ref} Failed over to the second acquirer`, command),
      slashCommand(replica, `resolve ${ref} Failed over to the second acquirer`, command),
    ]);
    expect(answers.filter((a) => a.text.startsWith(`Resolved ${ref}.`))).toHaveLength(1);
    expect(await both(RESOLVE_COUNT)).toBe(before.count + 1);
    const seconds = (await both(RESOLVE_SUM)) - before.sum;
    expect(seconds).toBeGreaterThanOrEqual(45 * 60);
    expect(seconds).toBeLessThan(45 * 60 + 60);
  });

  it('measures a resolution by the resolve form once, submitted to both replicas', async () => {
    const declared = await slashCommand(bot, 'declare P0 Refunds stuck');
    const id = /Declared INC-(\d+)/.exec(declared.text)![1]!;
    const before = await both(RESOLVE_COUNT);
    const view = { callback_id: 'incident_resolve', private_metadata: id, id: `VRESOLVE${id}` };
    const answers = await Promise.all(
      [bot, replica].map((to) => submitView(to, view, { resolution: 'Replayed the queue' })),
    );
    expect(answers.map((a) => a.body)).toEqual([{}, {}]);
    const { rows } = await bot.app.pool.query('SELECT state FROM incidents WHERE id = $1', [Number(id)]);
    expect(rows).toEqual([{ state: 'resolved' }]);
    expect(await both(RESOLVE_COUNT)).toBe(before + 1);
  });
});
