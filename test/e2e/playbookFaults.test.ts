import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueuePlaybookChecks } from '../../src/queues/healthJobs.js';
import { payload } from '../support/alertmanager.js';
import { paymentsApiChecked, startHealthyEndpoint } from '../support/healthEndpoint.js';
import { waitFor } from '../support/services.js';
import { messageOf } from '../support/slackRequests.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

/**
 * A playbook's auto checks under faults: a crash between their post and its record, an incident that
 * reopens after it.
 */
describe('playbook auto checks under faults', () => {
  let bot: TestBot;
  let endpoint: Awaited<ReturnType<typeof startHealthyEndpoint>>;

  beforeAll(async () => {
    endpoint = await startHealthyEndpoint();
    bot = await startTestBot({
      configYaml: paymentsApiChecked(
        endpoint.url,
        `playbooks:
  - { name: service-down, matchers: [alertname=ServiceDown], service: payments-api, checks: [{ check: health, auto: true }] }
`,
      ),
    });
  });
  afterAll(async () => {
    await bot?.stop();
    endpoint?.close();
  });

  const query = async <T>(sql: string, params: unknown[] = []) =>
    (await bot.app.pool.query(sql, params)).rows as T[];
  const healthResultsIn = (threadTs: string) =>
    bot.slack.emulator
      .allMessages()
      .filter((m) => m.threadTs === threadTs && JSON.stringify(m.blocks).includes('Health checks'));
  const runOf = async (id: number, opening: number) =>
    (
      await query<{ slack_ts: string }>(
        'SELECT slack_ts FROM playbook_check_runs WHERE incident_id = $1 AND opening = $2',
        [id, opening],
      )
    )[0];

  it('a reopened incident posts its own auto checks, not adopting what an earlier opening left unrecorded', async () => {
    await bot.deliver(payload({ group: 'ServiceDown', alerts: [{ instance: 'a' }] }));
    const id = await waitFor(
      async () => (await query<{ id: number }>('SELECT id::int AS id FROM incidents'))[0]?.id,
      20_000,
      'the incident',
    );
    const { channel, messageTs } = await messageOf(bot, 'incident', id);
    await waitFor(() => runOf(id, 0), 20_000, 'the first opening’s record');
    const [first] = healthResultsIn(messageTs);

    await bot.deliver(payload({ group: 'ServiceDown', alerts: [{ instance: 'a', status: 'resolved' }] }));
    await waitFor(
      async () => (await query<{ state: string }>('SELECT state FROM incidents'))[0]!.state === 'resolved',
      20_000,
      'resolved',
    );
    // As if the first opening's worker died after its post and before its record: the intent is left.
    await query('DELETE FROM playbook_check_runs WHERE incident_id = $1', [id]);
    await query(
      `INSERT INTO slack_post_intents (event_type, subject_id, nonce, channel_id, thread_ts, version)
       VALUES ('playbook_checks', $1, $2, $3, $4, 0)`,
      [id, first!.metadata!.event_payload.nonce, channel, messageTs],
    );

    await bot.deliver(
      payload({ group: 'ServiceDown', alerts: [{ instance: 'a', startsAt: '2026-11-23T10:00:00Z' }] }),
    );
    const reopened = await waitFor(() => runOf(id, 1), 20_000, 'the reopening’s record');
    expect(reopened.slack_ts).not.toBe(first!.ts);
    expect(healthResultsIn(messageTs).map((m) => m.ts)).toEqual([first!.ts, reopened.slack_ts]);
  });

  it('waits for a root Slack has not shown for long at a pace that slows with the wait', async () => {
    // Its own channel is still being made, for 20 minutes now (a Slack outage): no root to reply to.
    const [incident] = await query<{ id: number }>(
      `INSERT INTO incidents (title, severity, group_key, channel_id, dedicated_channel, group_labels,
                              common_labels, opened_at)
       VALUES ('t', 'P1', '{}:{alertname="ServiceDown"}', NULL, true, '{"alertname":"ServiceDown"}', '{}',
               now() - interval '20 minutes')
       RETURNING id::int AS id`,
    );
    const id = incident!.id;
    await enqueuePlaybookChecks(bot.app.health, { kind: 'playbook', incidentId: id, opening: 0 });
    const job = () => Job.fromId(bot.app.health, `playbook-checks-${id}-0`);
    await waitFor(async () => (await job())?.isDelayed(), 20_000, 'the job waiting');
    // Read again once delayed: a job read while it still waited holds the delay it was added with (0).
    // BullMQ counts the delay from its own clock reading, a millisecond or so after the worker's.
    const { delay } = (await job())!;
    expect(delay).toBeGreaterThan(59_000);
    expect(delay).toBeLessThanOrEqual(60_000);
    expect(await runOf(id, 0)).toBeUndefined();
  });
});
