import { beforeEach, describe, expect, it } from 'vitest';
import {
  checkEveryMs,
  checkHeartbeat,
  gapsBehindSlack,
  recordHeartbeat,
  separateHeartbeat,
} from '../../src/alerts/heartbeat.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { Duration } from '../../src/primitives/duration.js';
import { payload } from '../support/alertmanager.js';
import { migratedDatabase } from '../support/database.js';

const HEARTBEAT = { alertname: 'Watchdog', expectEvery: 10 * 60_000 };
const CHANNEL = 'C0DEFAULT1';

/** A group holding the Watchdog and real alerts, as a route without group_by sends it. */
const mixed = (status: 'firing' | 'resolved' = 'firing', truncatedAlerts = 0) =>
  WebhookPayloadSchema.parse({
    ...payload({
      group: 'Mixed',
      truncatedAlerts,
      alerts: [
        { name: 'Watchdog', instance: 'prometheus', severity: 'none', labels: { service: 'prometheus' } },
        { instance: 'pod-1', status, labels: { team: 'payments' }, annotations: { runbook: 'r1' } },
        { instance: 'pod-2', status, labels: { team: 'payments' }, annotations: { runbook: 'r1' } },
      ],
    }),
    // What Alertmanager computes over the whole group, Watchdog included: nothing in common.
    groupLabels: {},
    commonLabels: {},
    commonAnnotations: {},
    // Alertmanager's status: the Watchdog always fires.
    status: 'firing',
  });

describe('separating the heartbeat from a notification', () => {
  it('takes the heartbeat out of a mixed group and recomputes what the rest have in common', () => {
    const { beat, rest } = separateHeartbeat(mixed(), 'Watchdog');
    expect(beat).toBe(true);
    expect(rest!.alerts.map((a) => a.labels.instance)).toEqual(['pod-1', 'pod-2']);
    // Routed on these: team=payments reaches the payments route only without the Watchdog.
    expect({ ...rest!.commonLabels }).toEqual({
      alertname: 'HighErrorRate',
      severity: 'critical',
      service: 'payments-api',
      team: 'payments',
    });
    expect({ ...rest!.commonAnnotations }).toEqual({ runbook: 'r1' });
    expect(rest!.status).toBe('firing');
  });

  it('lets the rest resolve their group: the always-firing heartbeat kept it "firing"', () => {
    expect(separateHeartbeat(mixed('resolved'), 'Watchdog').rest!.status).toBe('resolved');
    // With alerts left out, their status is unknown: the group stays as Alertmanager said.
    const truncated = separateHeartbeat(mixed('resolved', 3), 'Watchdog').rest!;
    expect(truncated.status).toBe('firing');
    expect(truncated.commonLabels).toEqual(mixed('resolved', 3).commonLabels);
  });

  it('leaves nothing of a notification of the heartbeat alone, and counts only a firing one as a beat', () => {
    const watchdog = (status: 'firing' | 'resolved') =>
      WebhookPayloadSchema.parse(
        payload({ group: 'Watchdog', alerts: [{ name: 'Watchdog', instance: 'prometheus', status }] }),
      );
    expect(separateHeartbeat(watchdog('firing'), 'Watchdog')).toEqual({ beat: true });
    expect(separateHeartbeat(watchdog('resolved'), 'Watchdog')).toEqual({ beat: false });
  });

  it('passes a notification without the heartbeat through untouched', () => {
    const plain = WebhookPayloadSchema.parse(payload({ group: 'Plain', alerts: [{ instance: 'pod-1' }] }));
    const separated = separateHeartbeat(plain, 'Watchdog');
    expect(separated.beat).toBe(false);
    expect(separated.rest).toBe(plain);
  });
});

describe('checking the heartbeat', () => {
  it('runs a tenth of expectEvery apart, from 1 s to 30 s', () => {
    expect(checkEveryMs(10 * 60_000)).toBe(30_000);
    expect(checkEveryMs(2 * 60_000)).toBe(12_000);
    expect(checkEveryMs(1000)).toBe(1000);
  });
});

describe('heartbeat gaps in PostgreSQL', () => {
  const pool = migratedDatabase();
  beforeEach(async () => {
    await pool().query('TRUNCATE heartbeats, heartbeat_gaps');
  });

  const silentFor = (interval: string) =>
    pool().query(`UPDATE heartbeats SET last_seen_at = now() - $1::interval`, [interval]);
  const gaps = async () =>
    (
      await pool().query(
        'SELECT id::int, alertname, since, ended_at, channel_id, expect_every_ms::int FROM heartbeat_gaps ORDER BY id',
      )
    ).rows;

  it('starts the clock at the first check, and records a gap once the heartbeat is overdue', async () => {
    expect(await checkHeartbeat(pool(), HEARTBEAT, CHANNEL)).toEqual({ ended: [], found: [] });
    const { rows } = await pool().query(
      'SELECT last_seen_at > now() - interval $$1 minute$$ AS fresh FROM heartbeats',
    );
    expect(rows).toEqual([{ fresh: true }]);

    await silentFor('11 minutes');
    const { found } = await checkHeartbeat(pool(), HEARTBEAT, CHANNEL);
    expect(found).toHaveLength(1);
    expect(await gaps()).toMatchObject([
      { id: found[0], alertname: 'Watchdog', ended_at: null, channel_id: CHANNEL, expect_every_ms: 600_000 },
    ]);
    // Still silent: the same gap, not a second one.
    expect(await checkHeartbeat(pool(), HEARTBEAT, CHANNEL)).toEqual({ ended: [], found: [] });
    expect(await gapsBehindSlack(pool(), 10)).toEqual([{ id: found[0], news: 'missing' }]);
  });

  it('records one gap when many checkers find it at the same moment', async () => {
    await checkHeartbeat(pool(), HEARTBEAT, CHANNEL);
    await silentFor('1 hour');
    const results = await Promise.all(
      Array.from({ length: 12 }, () => checkHeartbeat(pool(), HEARTBEAT, CHANNEL)),
    );
    expect(results.flatMap((r) => r.found)).toHaveLength(1);
    expect(await gaps()).toHaveLength(1);
  });

  it('ends the open gap at the next delivery, once, however many deliveries and checks race', async () => {
    await checkHeartbeat(pool(), HEARTBEAT, CHANNEL);
    await silentFor('1 hour');
    const { found } = await checkHeartbeat(pool(), HEARTBEAT, CHANNEL);
    const results = await Promise.all([
      ...Array.from({ length: 6 }, () => recordHeartbeat(pool(), 'Watchdog')),
      ...Array.from({ length: 6 }, () => checkHeartbeat(pool(), HEARTBEAT, CHANNEL).then((r) => r.ended[0])),
    ]);
    expect(results.filter((id) => id !== undefined)).toEqual(found);
    const all = await gaps();
    expect(all).toHaveLength(1);
    const [gap] = all;
    expect(gap.ended_at).not.toBeNull();
    expect(gap.ended_at.getTime()).toBeGreaterThan(gap.since.getTime());
    expect(await gapsBehindSlack(pool(), 10)).toEqual([{ id: found[0], news: 'missing' }]);
    await pool().query("UPDATE heartbeat_gaps SET missing_ts = '1.0'");
    expect(await gapsBehindSlack(pool(), 10)).toEqual([{ id: found[0], news: 'back' }]);
  });

  it('ends a gap the delivery did not see, at the next check', async () => {
    await checkHeartbeat(pool(), HEARTBEAT, CHANNEL);
    await silentFor('1 hour');
    const { found } = await checkHeartbeat(pool(), HEARTBEAT, CHANNEL);
    // A delivery that moved last_seen_at without seeing the gap (committed in the same instant).
    await pool().query('UPDATE heartbeats SET last_seen_at = now()');
    expect(await checkHeartbeat(pool(), HEARTBEAT, CHANNEL)).toEqual({ ended: found, found: [] });
  });

  it('ends one gap and opens the next when the heartbeat came back and went away again unchecked', async () => {
    await checkHeartbeat(pool(), HEARTBEAT, CHANNEL);
    await silentFor('2 hours');
    const first = (await checkHeartbeat(pool(), HEARTBEAT, CHANNEL)).found;
    await silentFor('1 hour');
    const next = await checkHeartbeat(pool(), HEARTBEAT, CHANNEL);
    expect(next.ended).toEqual(first);
    expect(next.found).toHaveLength(1);
    expect(next.found[0]).not.toBe(first[0]);
  });

  it('checks with the longest expectEvery the config takes', async () => {
    const longest = { ...HEARTBEAT, expectEvery: Duration.parse('365d') };
    expect(await checkHeartbeat(pool(), longest, CHANNEL)).toEqual({ ended: [], found: [] });
    await silentFor('300 days');
    expect(await checkHeartbeat(pool(), longest, CHANNEL)).toEqual({ ended: [], found: [] });
  });

  it('records a delivery with no gap open as a heartbeat only', async () => {
    expect(await recordHeartbeat(pool(), 'Watchdog')).toBeUndefined();
    expect((await pool().query('SELECT alertname FROM heartbeats')).rows).toEqual([
      { alertname: 'Watchdog' },
    ]);
    expect(await gaps()).toEqual([]);
  });
});
