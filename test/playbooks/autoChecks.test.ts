import { describe, expect, it, vi } from 'vitest';
import { parseFileConfig } from '../../src/config/file.js';
import { moveToFallbackChannel } from '../../src/incidents/channelFallback.js';
import { autoChecksDue, planAutoChecks, recordAutoChecks } from '../../src/playbooks/autoChecks.js';
import { migratedDatabase } from '../support/database.js';

/**
 * The record that makes a playbook's auto checks run once per opening: planned (the service's window
 * claimed), recorded with their message, found again by the sweep while unrecorded.
 */
const config = parseFileConfig(
  'x',
  `slack:
  defaultChannel: C0123ABCD
services:
  payments-api:
    checks:
      - { name: health, kind: http, url: 'http://payments-api:8000/health' }
      - { name: ready, kind: http, url: 'http://payments-api:8000/ready' }
playbooks:
  - name: service-down
    matchers: ['alertname=ServiceDown']
    service: payments-api
    checks: [{ check: health, auto: true }, ready]
    autoChecksOncePer: 10m
  - name: manual-only
    matchers: ['alertname=Other']
    service: payments-api
    checks: [health]
`,
);

const OK = { status: 'ok' as const, results: [] };

describe('auto checks', () => {
  const pool = migratedDatabase();
  let groups = 0;
  const open = async (alertname: string, opening = 0, rootTs: string | null = '1.000001') => {
    const { rows } = await pool().query<{ id: number }>(
      `INSERT INTO incidents (title, severity, group_key, channel_id, group_labels, common_labels, reopen_count,
                              root_ts)
       VALUES ('t', 'P1', $1, 'C0PAYMENTS', $2, '{"service":"payments-api"}', $3, $4) RETURNING id::int AS id`,
      [`g${++groups}`, JSON.stringify({ alertname }), opening, rootTs],
    );
    return rows[0]!.id;
  };
  const record = async (plan: NonNullable<Awaited<ReturnType<typeof planAutoChecks>>>) => {
    const client = await pool().connect();
    try {
      await recordAutoChecks(client, plan, 'checks' in plan.run ? OK : undefined, '1.0001');
    } finally {
      client.release();
    }
  };

  it('plans only the auto checks of a matching playbook, once per opening', async () => {
    const id = await open('ServiceDown');
    expect(await planAutoChecks(pool(), config, { incidentId: id, opening: 1 })).toBeUndefined();
    const plan = await planAutoChecks(pool(), config, { incidentId: id, opening: 0 });
    expect(plan).toMatchObject({
      playbook: 'service-down',
      service: 'payments-api',
      channelId: 'C0PAYMENTS',
    });
    expect(plan!.run).toEqual({ checks: [expect.objectContaining({ name: 'health' })] });
    // Looked at again (a retry after a crash), the opening that holds the window runs them again.
    expect((await planAutoChecks(pool(), config, { incidentId: id, opening: 0 }))!.run).toEqual(plan!.run);
    await record(plan!);
    await record(plan!);
    expect(await planAutoChecks(pool(), config, { incidentId: id, opening: 0 })).toBeUndefined();
    const { rows } = await pool().query(
      "SELECT count(*)::int AS n FROM timeline_entries WHERE incident_id = $1 AND kind = 'health_check'",
      [id],
    );
    expect(rows[0].n).toBe(1);
    // A playbook without auto checks, or none at all: nothing to run.
    expect(
      await planAutoChecks(pool(), config, { incidentId: await open('Other'), opening: 0 }),
    ).toBeUndefined();
    expect(
      await planAutoChecks(pool(), config, { incidentId: await open('Nope'), opening: 0 }),
    ).toBeUndefined();
  });

  it('within the window, another incident of the service is pointed at the one that ran them', async () => {
    await pool().query('DELETE FROM service_auto_checks');
    const first = await open('ServiceDown');
    const second = await open('ServiceDown');
    const ran = await planAutoChecks(pool(), config, { incidentId: first, opening: 0 });
    expect(ran!.run).toHaveProperty('checks');
    // Pointed at the first only once its result is shown: until then, told to wait.
    expect((await planAutoChecks(pool(), config, { incidentId: second, opening: 0 }))!.run).toEqual({
      waitingFor: 'holder',
    });
    await record(ran!);
    const covered = await planAutoChecks(pool(), config, { incidentId: second, opening: 0 });
    expect(covered!.run).toEqual({ coveredBy: first, at: expect.any(Date) });
    // Once the window has passed, the service's checks run again.
    await pool().query("UPDATE service_auto_checks SET checked_at = now() - interval '11 minutes'");
    expect((await planAutoChecks(pool(), config, { incidentId: second, opening: 0 }))!.run).toHaveProperty(
      'checks',
    );
  });

  it('claims no window before the root is in Slack, and takes over one whose holder resolved unshown', async () => {
    await pool().query('DELETE FROM service_auto_checks');
    const rootless = await open('ServiceDown', 0, null);
    expect((await planAutoChecks(pool(), config, { incidentId: rootless, opening: 0 }))!.run).toEqual({
      waitingFor: 'root',
    });
    expect((await pool().query('SELECT 1 FROM service_auto_checks')).rowCount).toBe(0);

    const holder = await open('ServiceDown');
    const other = await open('ServiceDown');
    expect((await planAutoChecks(pool(), config, { incidentId: holder, opening: 0 }))!.run).toHaveProperty(
      'checks',
    );
    // The holder resolves before its result is shown: nobody is pointed at checks that never ran.
    await pool().query("UPDATE incidents SET state = 'resolved', resolved_at = now() WHERE id = $1", [
      holder,
    ]);
    expect((await planAutoChecks(pool(), config, { incidentId: other, opening: 0 }))!.run).toHaveProperty(
      'checks',
    );
    const { rows } = await pool().query('SELECT incident_id::int AS id FROM service_auto_checks');
    expect(rows).toEqual([{ id: other }]);
  });

  it('the sweep finds open incidents whose auto checks have no record, and only those', async () => {
    await pool().query("UPDATE incidents SET state = 'resolved', resolved_at = now()");
    const lost = await open('ServiceDown');
    const done = await open('ServiceDown');
    await open('Other');
    await pool().query('DELETE FROM service_auto_checks');
    await record((await planAutoChecks(pool(), config, { incidentId: done, opening: 0 }))!);
    expect(await autoChecksDue(pool(), config, 15 * 60_000)).toEqual([{ incidentId: lost, opening: 0 }]);
    // Behind more incidents that no playbook checks than the sweep reads at once (a storm of them).
    await pool().query(
      `INSERT INTO incidents (title, severity, group_key, channel_id, group_labels, common_labels)
       SELECT 't', 'P1', 'storm' || n, 'C0PAYMENTS', '{"alertname":"Other"}', '{}' FROM generate_series(1, 1001) n`,
    );
    const behind = await open('ServiceDown');
    expect(await autoChecksDue(pool(), config, 15 * 60_000)).toEqual([
      { incidentId: lost, opening: 0 },
      { incidentId: behind, opening: 0 },
    ]);
    await pool().query("UPDATE incidents SET state = 'resolved', resolved_at = now() WHERE id >= $1", [
      behind - 1001,
    ]);
    // Reopened: its new opening runs them again.
    await pool().query('UPDATE incidents SET reopen_count = 1 WHERE id = $1', [done]);
    expect(await autoChecksDue(pool(), config, 15 * 60_000)).toEqual([
      { incidentId: lost, opening: 0 },
      { incidentId: done, opening: 1 },
    ]);
  });

  it('the sweep asks PostgreSQL nothing when no playbook has auto checks', async () => {
    await open('Other');
    const manual = parseFileConfig(
      'x',
      `slack:
  defaultChannel: C0123ABCD
services:
  payments-api:
    checks: [{ name: health, kind: http, url: 'http://payments-api:8000/health' }]
playbooks:
  - { name: manual-only, matchers: ['alertname=Other'], service: payments-api, checks: [health] }
`,
    );
    const query = vi.spyOn(pool(), 'query');
    try {
      expect(await autoChecksDue(pool(), manual, 15 * 60_000)).toEqual([]);
      expect(query).not.toHaveBeenCalled();
    } finally {
      query.mockRestore();
    }
  });

  it('an incident moved to a fallback channel does not look for its checks in the channel it left', async () => {
    const id = await open('ServiceDown');
    await pool().query(
      `INSERT INTO slack_post_intents (event_type, subject_id, nonce, channel_id, thread_ts, version)
       VALUES ('playbook_checks', $1, gen_random_uuid(), 'C0PAYMENTS', '1.000001', 0)`,
      [id],
    );
    await moveToFallbackChannel(pool(), id, 'C0FALLBACK', 'channel_not_found');
    const { rowCount } = await pool().query('SELECT 1 FROM slack_post_intents WHERE subject_id = $1', [id]);
    expect(rowCount).toBe(0);
  });
});
