import { afterAll, beforeAll, expect, it } from 'vitest';
import { incidentsBehindSlack } from '../../src/incidents/incidentStore.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  type PostableAlert,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { type ChildBot, startChild, stopChild } from '../support/childWorker.js';
import { waitFor } from '../support/services.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0PAYMENTS';
const GROUPS = 30;
const group = (g: number) => `TwoReplicas${String(g).padStart(2, '0')}`;

const STARTS_AT = new Date().toISOString();

/** Two alerts in each group, as Prometheus posts them. */
const alertsOf = (g: number): PostableAlert[] =>
  ['pod-a', 'pod-b'].map((instance) => ({
    labels: { alertname: group(g), service: 'payments-api', severity: 'critical', instance },
    annotations: { summary: `Error rate above 5% on ${instance}` },
    startsAt: STARTS_AT,
    generatorURL: 'http://prometheus.example:9090/graph',
  }));

/**
 * Fault scenario 6: two `serve` replicas behind two clustered Alertmanager peers, each peer notifying
 * its own replica (so each group reaches both, at about the same moment), sharing PostgreSQL, Redis and
 * Slack. Every group is one incident with one root message, and ends resolved.
 */
describeWithAlertmanager('two replicas fed by two Alertmanager peers', () => {
  let bot: TestBot;
  const replicas: ChildBot[] = [];
  let cluster: AlertmanagerCluster | undefined;
  beforeAll(async () => {
    // Only the replicas work: the test's own bot gives them a database, a Redis prefix and a Slack.
    bot = await startTestBot({ worker: false });
    for (let i = 0; i < 2; i++) replicas.push(await startChild(bot, ['serve']));
    cluster = await startAlertmanagerCluster({
      webhookUrls: replicas.map((replica) => `http://127.0.0.1:${replica.port}/alertmanager`),
      token: TEST_SECRETS.alertmanagerToken,
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    for (const replica of replicas) await stopChild(replica.process);
    await bot?.stop();
  });

  const rootsOf = (g: number) =>
    bot.slack.emulator.channelMessages(CHANNEL).filter((m) => m.text.includes(group(g)));
  const groups = Array.from({ length: GROUPS }, (_, g) => g);

  it('30 groups fired then resolved: one root message per group, each ending resolved', async () => {
    await cluster!.fire(groups.flatMap(alertsOf));
    await waitFor(
      () => groups.every((g) => rootsOf(g).some((m) => m.text.includes('2 firing, 0 resolved'))),
      60_000,
      'every group firing in Slack',
    );

    await cluster!.resolve(groups.flatMap(alertsOf));
    await waitFor(
      () => groups.every((g) => rootsOf(g).some((m) => JSON.stringify(m.blocks).includes('✅ Resolved'))),
      60_000,
      'every group resolved in Slack',
    );
    // Settled: Postgres has nothing Slack does not show yet.
    await waitFor(
      async () => (await incidentsBehindSlack(bot.app.pool, 1)).length === 0,
      60_000,
      'Slack to show all Postgres holds',
    );

    // Each peer fed its replica: both replicas took deliveries.
    for (const replica of replicas) {
      const metrics = await (await fetch(`http://127.0.0.1:${replica.port}/metrics`)).text();
      expect(metrics, `replica on port ${replica.port}`).toMatch(
        /^incident_bot_alertmanager_deliveries_total\{outcome="(created|updated)"\} [1-9]/m,
      );
    }

    // Slack: exactly one root per group, showing both alerts resolved.
    expect(bot.slack.emulator.channelMessages(CHANNEL)).toHaveLength(GROUPS);
    for (const g of groups) {
      const roots = rootsOf(g);
      expect(roots, group(g)).toHaveLength(1);
      expect(roots[0]!.text, group(g)).toContain('0 firing, 2 resolved');
      expect(JSON.stringify(roots[0]!.blocks), group(g)).toContain('✅ Resolved');
    }

    // Postgres: one incident per group, resolved, pointing at that root.
    const { rows } = await bot.app.pool.query(
      `SELECT group_labels->>'alertname' AS alertname, state, root_ts, count(*) OVER (PARTITION BY group_key)::int AS n
         FROM incidents ORDER BY 1`,
    );
    expect(rows).toHaveLength(GROUPS);
    for (const [g, row] of rows.entries()) {
      expect(row).toEqual({ alertname: group(g), state: 'resolved', root_ts: rootsOf(g)[0]!.ts, n: 1 });
    }
    const { rows: alerts } = await bot.app.pool.query(
      "SELECT count(*)::int AS n FROM alerts WHERE status = 'resolved'",
    );
    expect(alerts[0].n).toBe(GROUPS * 2);
    // Each thing happened once on each timeline, though every notification reached both replicas.
    const { rows: timelines } = await bot.app.pool.query(
      `SELECT incident_id, string_agg(kind, ' ' ORDER BY kind) AS kinds FROM timeline_entries GROUP BY 1`,
    );
    expect(timelines).toHaveLength(GROUPS);
    for (const { kinds } of timelines) {
      expect(kinds).toBe(
        'alert_firing alert_firing alert_resolved alert_resolved incident_opened incident_resolved',
      );
    }
  });
});
