import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  type PostableAlert,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { redisUrl, waitFor, waitForQueueIdle } from '../support/services.js';
import { slashCommand } from '../support/slackRequests.js';
import { jsonOf, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0PAYMENTS';
const text = (value: unknown) => JSON.stringify(value);

describe('a group firing again soon after its incident resolved, end to end', () => {
  let bot: TestBot;
  let ref: string;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const send = async (alerts: AlertSpec[]) => {
    const res = await bot.deliver(payload({ group: 'CheckoutLatency', alerts }));
    expect(res.status).toBe(200);
    return jsonOf(res);
  };
  const roots = () => bot.slack.emulator.channelMessages(CHANNEL);
  const rootText = () => text(roots()[0]!.blocks);
  const threadText = () => text(bot.slack.emulator.threadOf(CHANNEL, roots()[0]!.ts).map((m) => m.blocks));
  const settle = () => waitForQueueIdle(bot.app.slackSync);

  it('reopens the incident in its thread, updating the same root message, instead of paging anew', async () => {
    const opened = await send([{ instance: 'pod-1' }]);
    expect(opened.outcome).toBe('created');
    ref = opened.incident as string;
    const root = await waitFor(() => roots()[0], 20_000, 'root message');
    await send([{ instance: 'pod-1', status: 'resolved' }]);
    await waitFor(() => rootText().includes('✅ Resolved'), 20_000, 'resolved root');
    expect(rootText()).not.toContain('incident_resolve"');

    const again = await send([{ instance: 'pod-1', startsAt: '2026-11-23T10:00:00Z' }]);
    expect(again).toEqual({ outcome: 'reopened', incident: ref });
    await waitFor(() => rootText().includes('Reopened, 2nd time'), 20_000, 'reopened root');
    await waitFor(() => threadText().includes('Reopened, 2nd time'), 20_000, 'reopened in the thread');
    await settle();
    expect(roots()).toHaveLength(1);
    expect(roots()[0]!.ts).toBe(root.ts);
    expect(rootText()).toContain('🔴 Investigating\\n↩️ Reopened, 2nd time');
    expect(rootText()).toContain('1 firing, 0 resolved');
    // The buttons of an open incident again.
    for (const action of ['incident_post_update', 'incident_resolve']) expect(rootText()).toContain(action);
    expect(threadText()).toMatch(
      /↩️ \*Reopened, 2nd time\*: its alerts fired again \d+ min after it resolved/,
    );

    // A lagging peer's copy of the first resolution closes nothing that fired since.
    expect((await send([{ instance: 'pod-1', status: 'resolved' }])).outcome).toBe('stale');
  });

  it('reopens it after a resolution by hand, the 3rd time, with its status updates due again', async () => {
    const id = Number(ref.slice(4));
    await slashCommand(bot, `update ${ref} monitoring Latency back under 200 ms`);
    await slashCommand(bot, `resolve ${ref} Rolled back the cache change`);
    await waitFor(() => rootText().includes('✅ Resolved'), 20_000, 'resolved by hand');
    const reminders = async () =>
      (await bot.app.tasks.getJobs(['delayed', 'waiting'])).filter(
        (job) => job.name === 'update-reminder' && 'incidentId' in job.data && job.data.incidentId === id,
      );
    /** When the reminder waits for, as BullMQ keeps it: its place in the delayed set, ms × 4096. */
    const reminderDue = async () => {
      const redis = new Redis(redisUrl());
      try {
        const score = await redis.zscore(bot.app.tasks.toKey('delayed'), `update-reminder-${id}`);
        return Math.floor(Number(score) / 0x1000);
      } finally {
        await redis.quit();
      }
    };
    const dueInDatabase = async () =>
      (
        await bot.app.pool.query<{ due: Date }>(
          'SELECT next_update_due_at AS due FROM incidents WHERE id = $1',
          [id],
        )
      ).rows[0]!.due.getTime();
    // Left to run at its time, and find the incident resolved, or reopened as below.
    expect(await reminders()).toHaveLength(1);
    const dueBefore = await reminderDue();
    // The reopening's due time a second past the update's, to tell the reminder's move from its stay.
    await new Promise((r) => setTimeout(r, 1000));

    // Its alert still fires in Alertmanager; another of the group starts.
    const again = await send([
      { instance: 'pod-1', startsAt: '2026-11-23T10:00:00Z' },
      { instance: 'pod-2', startsAt: '2026-11-23T10:30:00Z' },
    ]);
    expect(again).toEqual({ outcome: 'reopened', incident: ref });
    await waitFor(() => rootText().includes('Reopened, 3rd time'), 20_000, 'reopened root');
    await settle();
    expect(roots()).toHaveLength(1);
    expect(rootText()).not.toContain('Rolled back the cache change');
    expect(rootText()).toContain('*Next update*');
    expect(threadText()).toContain('Reopened, 3rd time');
    expect(await reminders()).toHaveLength(1);
    // Moved to the reopened incident's due time.
    expect(Math.abs((await reminderDue()) - (await dueInDatabase()))).toBeLessThan(250);
    expect((await reminderDue()) - dueBefore).toBeGreaterThan(750);
    const { rows } = await bot.app.pool.query(
      "SELECT state, reopen_count FROM incidents WHERE group_key LIKE '%CheckoutLatency%'",
    );
    expect(rows).toEqual([{ state: 'open', reopen_count: 2 }]);
  });
});

/** Two real Alertmanager peers, both notifying the bot, each notification at about the same moment. */
describeWithAlertmanager('reopening, fed by two Alertmanager peers', () => {
  let bot: TestBot;
  let cluster: AlertmanagerCluster | undefined;
  beforeAll(async () => {
    bot = await startTestBot();
    const webhook = `${bot.url}/alertmanager`;
    cluster = await startAlertmanagerCluster({
      webhookUrls: [webhook, webhook],
      token: TEST_SECRETS.alertmanagerToken,
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await bot?.stop();
  });

  const alert = (startsAt: string): PostableAlert[] => [
    {
      labels: {
        alertname: 'PeersReopen',
        service: 'payments-api',
        severity: 'critical',
        instance: 'pod-a',
      },
      annotations: { summary: 'Error rate above 5% on pod-a' },
      startsAt,
    },
  ];
  const roots = () => bot.slack.emulator.channelMessages(CHANNEL);
  const incidents = async () =>
    (await bot.app.pool.query('SELECT id::int, state, reopen_count FROM incidents ORDER BY id')).rows;

  it('reopens the one incident once when both peers deliver the new firing', async () => {
    const first = alert(new Date().toISOString());
    await cluster!.fire(first);
    await waitFor(() => roots()[0], 60_000, 'root message');
    await cluster!.resolve(first);
    await waitFor(async () => (await incidents())[0]?.state === 'resolved', 60_000, 'resolved');

    await cluster!.fire(alert(new Date().toISOString()));
    await waitFor(() => text(roots()[0]!.blocks).includes('Reopened, 2nd time'), 60_000, 'reopened root');
    await waitForQueueIdle(bot.app.slackSync);
    expect(await incidents()).toEqual([{ id: expect.any(Number), state: 'open', reopen_count: 1 }]);
    expect(roots()).toHaveLength(1);
    const thread = text(bot.slack.emulator.threadOf(CHANNEL, roots()[0]!.ts).map((m) => m.blocks));
    expect(thread.match(/Reopened, 2nd time/g)).toHaveLength(1);
    const metrics = await (await fetch(`${bot.url}/metrics`)).text();
    expect(metrics).toContain('incident_bot_alertmanager_deliveries_total{outcome="created"} 1\n');
    expect(metrics).toContain('incident_bot_alertmanager_deliveries_total{outcome="reopened"} 1\n');
  });
});
