import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryDigest, ingestDelivery } from '../../src/alerts/ingest.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool, inTransaction, type Pool } from '../../src/db/pool.js';
import { postStatusUpdate, resolveIncident } from '../../src/incidents/lifecycle.js';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { countingPool } from '../support/countingPool.js';
import { recordingEffects } from '../support/incidents.js';
import { createTestDatabase, type TestDatabase, waitForLockWaiters } from '../support/services.js';

const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');
// An alert's startsAt once it fires again (the payload helper's alerts start at 08:00).
const LATER = '2026-11-23T10:00:00Z';

describe('ingesting Alertmanager deliveries', () => {
  let db: TestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 20);
    await migrate(pool);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const deliver = (
    group: string,
    alerts: AlertSpec[],
    extra: Parameters<typeof payload>[0] extends infer P ? Partial<P> : never = {},
    using = config,
  ) =>
    inTransaction(pool, (db) =>
      ingestDelivery(db, using, WebhookPayloadSchema.parse(payload({ group, alerts, ...extra }))),
    );
  const incidentsOf = async (group: string) =>
    (
      await pool.query(
        'SELECT id::int, state, severity, version FROM incidents WHERE group_key LIKE $1 ORDER BY id',
        [`%"${group}"%`],
      )
    ).rows;
  const timelineOf = async (incidentId: number) =>
    (
      await pool.query('SELECT kind, data FROM timeline_entries WHERE incident_id = $1 ORDER BY id', [
        incidentId,
      ])
    ).rows;

  it("records a change's timeline entries in the statement that bumps its version, a resolution's last", async () => {
    const { incident } = await deliver('OneStatement', [{ instance: 'a' }]);
    const { pool: counting, sent } = countingPool(pool);
    const ingested = (alerts: AlertSpec[]) =>
      inTransaction(counting, (db) =>
        ingestDelivery(db, config, WebhookPayloadSchema.parse(payload({ group: 'OneStatement', alerts }))),
      );
    // A second alert fires: BEGIN, the lock, the alerts and late copies, the change with its entry, COMMIT.
    expect((await ingested([{ instance: 'a' }, { instance: 'b' }])).outcome).toBe('updated');
    expect(sent).toHaveLength(5);
    expect(sent[3]).toMatch(/INSERT INTO timeline_entries[\s\S]*UPDATE incidents/);
    sent.length = 0;
    const resolved = await ingested([
      { instance: 'a', status: 'resolved' },
      { instance: 'b', status: 'resolved' },
    ]);
    expect(sent.filter((text) => /INSERT INTO timeline_entries/.test(text))).toEqual([
      expect.stringMatching(/INSERT INTO timeline_entries[\s\S]*UPDATE incidents/),
    ]);
    expect((await timelineOf(incident!.id)).slice(-3)).toEqual([
      { kind: 'alert_resolved', data: expect.objectContaining({ alertname: 'HighErrorRate' }) },
      { kind: 'alert_resolved', data: expect.objectContaining({ alertname: 'HighErrorRate' }) },
      { kind: 'incident_resolved', data: { durationMs: resolved.resolved!.afterMs } },
    ]);
  });

  it('opens exactly one incident when many Alertmanager peers deliver a new group at the same moment', async () => {
    const deliveries = Array.from({ length: 12 }, (_, i) =>
      deliver('RaceGroup', [{ instance: 'a' }, ...(i % 2 ? [{ instance: 'b' }] : [])]),
    );
    const results = await Promise.all(deliveries);
    expect(results.filter((r) => r.outcome === 'created')).toHaveLength(1);
    const incidents = await incidentsOf('RaceGroup');
    expect(incidents).toHaveLength(1);
    expect(new Set(results.map((r) => r.incident?.id))).toEqual(new Set([incidents[0].id]));
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM alerts WHERE incident_id = $1', [
      incidents[0].id,
    ]);
    expect(rows[0].n).toBe(2);
  });

  it('treats a repeat, or the same alerts in another order, as a duplicate that changes nothing', async () => {
    const first = await deliver('Repeat', [{ instance: 'a' }, { instance: 'b' }]);
    expect(first.outcome).toBe('created');
    const again = await deliver('Repeat', [{ instance: 'b' }, { instance: 'a' }]);
    // No worker runs here, so Slack is still behind: the route will enqueue a sync again.
    expect(again).toEqual({ outcome: 'duplicate', incident: first.incident, slackBehind: true });
    expect((await incidentsOf('Repeat'))[0].version).toBe(first.incident!.version);
  });

  it('keys deliveries on group, status and each alert fingerprint with its status', () => {
    const a = WebhookPayloadSchema.parse(
      payload({ group: 'G', alerts: [{ instance: 'a' }, { instance: 'b' }] }),
    );
    const reordered = { ...a, alerts: [...a.alerts].reverse() };
    const changed = WebhookPayloadSchema.parse(
      payload({ group: 'G', alerts: [{ instance: 'a' }, { instance: 'b', status: 'resolved' }] }),
    );
    expect(deliveryDigest(reordered)).toBe(deliveryDigest(a));
    expect(deliveryDigest(changed)).not.toBe(deliveryDigest(a));
  });

  it('records newly firing and resolved alerts on the timeline and bumps the version once per change', async () => {
    const opened = await deliver('Changes', [{ instance: 'a' }]);
    const grown = await deliver('Changes', [{ instance: 'a' }, { instance: 'b' }]);
    expect(grown.outcome).toBe('updated');
    expect(grown.incident!.version).toBe(opened.incident!.version + 1);
    const partly = await deliver('Changes', [{ instance: 'a', status: 'resolved' }, { instance: 'b' }]);
    expect(partly.outcome).toBe('updated');
    const kinds = (await timelineOf(opened.incident!.id)).map(
      (e) => `${e.kind}:${e.data.fingerprint ? 'x' : ''}`,
    );
    expect(kinds).toEqual(['incident_opened:', 'alert_firing:x', 'alert_firing:x', 'alert_resolved:x']);
    expect((await incidentsOf('Changes'))[0].state).toBe('open');
  });

  it('resolves the incident when the group resolves, including alerts the bot did not keep', async () => {
    const opened = await deliver('Truncated', [{ instance: 'a' }, { instance: 'b' }, { instance: 'c' }]);
    // Only one alert kept, two left out by the bot: Alertmanager's status, of them all, says all resolved.
    const resolved = await deliver('Truncated', [{ instance: 'a', status: 'resolved' }], {
      status: 'resolved',
      truncatedAlerts: 2,
    });
    expect(resolved.outcome).toBe('updated');
    const [incident] = await incidentsOf('Truncated');
    expect(incident.state).toBe('resolved');
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM alerts WHERE incident_id = $1 AND status = 'firing'",
      [opened.incident!.id],
    );
    expect(rows[0].n).toBe(0);
    expect((await timelineOf(opened.incident!.id)).at(-1).kind).toBe('incident_resolved');
  });

  // Alertmanager (0.25, with max_alerts 1) sends this when a of a and b resolves: it truncates before it
  // works the status out, so "resolved" tells of a alone. The bot resolved b and the incident with it.
  it('leaves open an incident whose resolved notification Alertmanager truncated: the alerts left out may fire', async () => {
    const opened = await deliver('AlertmanagerTruncated', [{ instance: 'a' }, { instance: 'b' }]);
    const partly = await deliver('AlertmanagerTruncated', [{ instance: 'a', status: 'resolved' }], {
      status: 'resolved',
      truncatedAlerts: 1,
      alertmanagerTruncated: true,
    });
    expect(partly.outcome).toBe('updated');
    expect((await incidentsOf('AlertmanagerTruncated')).map((i) => i.state)).toEqual(['open']);
    const { rows } = await pool.query(
      "SELECT labels->>'instance' AS instance, status FROM alerts WHERE incident_id = $1 ORDER BY 1",
      [opened.incident!.id],
    );
    expect(rows).toEqual([
      { instance: 'a', status: 'resolved' },
      { instance: 'b', status: 'firing' },
    ]);
    // b's resolution, all Alertmanager has left of the group, resolves it.
    const last = await deliver('AlertmanagerTruncated', [{ instance: 'b', status: 'resolved' }]);
    expect(last.outcome).toBe('updated');
    expect((await incidentsOf('AlertmanagerTruncated')).map((i) => i.state)).toEqual(['resolved']);
  });

  it('ignores a late firing copy of alerts that already resolved, and reopens the incident when they fire again', async () => {
    await deliver('Flapping', [{ instance: 'a' }]);
    await deliver('Flapping', [{ instance: 'a', status: 'resolved' }]);
    // A lagging peer re-sends the old firing notification: same startsAt, so it is not news.
    const late = await deliver('Flapping', [{ instance: 'a' }]);
    expect(late.outcome).toBe('stale');
    expect((await incidentsOf('Flapping')).map((i) => i.state)).toEqual(['resolved']);
    const refired = await deliver('Flapping', [{ instance: 'a', startsAt: LATER }]);
    expect(refired.outcome).toBe('reopened');
    expect((await incidentsOf('Flapping')).map((i) => i.state)).toEqual(['open']);
  });

  // A lagging peer's copy (its send answered 503, retried later) reopened it, and nothing resolved it again.
  it("knows a late firing copy for one after the incident was resolved by hand before Alertmanager's resolution", async () => {
    const opened = await deliver('ResolvedByHand', [{ instance: 'a' }]);
    await resolveIncident(
      { pool, config, effects: recordingEffects() },
      opened.incident!.id,
      'Rolled back',
      'U0ALICE',
    );
    expect((await deliver('ResolvedByHand', [{ instance: 'a', status: 'resolved' }])).outcome).toBe(
      'ignored',
    );
    expect((await deliver('ResolvedByHand', [{ instance: 'a' }])).outcome).toBe('stale');
    expect((await incidentsOf('ResolvedByHand')).map((i) => i.state)).toEqual(['resolved']);
    // Fired again since (a newer startsAt), it reopens the incident.
    expect((await deliver('ResolvedByHand', [{ instance: 'a', startsAt: LATER }])).outcome).toBe('reopened');
  });

  it('measures the late-copy window from when the bot stored the resolution, on its own clock', async () => {
    const opened = await deliver('WindowClock', [{ instance: 'a' }]);
    await deliver('WindowClock', [{ instance: 'a', status: 'resolved' }]);
    expect((await deliver('WindowClock', [{ instance: 'a' }])).outcome).toBe('stale');
    // Six minutes later by the bot's clock (the default window is five): the same copy is the alert again.
    await pool.query(
      "UPDATE alerts SET resolution_recorded_at = resolution_recorded_at - interval '6 minutes' WHERE incident_id = $1",
      [opened.incident!.id],
    );
    expect((await deliver('WindowClock', [{ instance: 'a' }])).outcome).toBe('reopened');
    expect((await incidentsOf('WindowClock')).map((i) => i.state)).toEqual(['open']);
  });

  it('does not take a partly late notification for the last word: the same shape later is still news', async () => {
    const later = '2026-11-23T10:00:00Z';
    await deliver('PartlyLate', [{ instance: 'a' }, { instance: 'b' }]);
    await deliver('PartlyLate', [{ instance: 'a', status: 'resolved' }, { instance: 'b' }]);
    const { incident } = await deliver('PartlyLate', [{ instance: 'a', startsAt: later }, { instance: 'b' }]);
    // a's copy is older than the stored a; b's resolution is news.
    const partly = await deliver('PartlyLate', [
      { instance: 'a', status: 'resolved' },
      { instance: 'b', status: 'resolved' },
      { instance: 'c' },
    ]);
    expect(partly.outcome).toBe('updated');
    const { rows } = await pool.query(
      "SELECT labels->>'instance' AS instance, status FROM alerts WHERE incident_id = $1 ORDER BY 1",
      [incident!.id],
    );
    expect(rows.map((r) => `${r.instance}:${r.status}`)).toEqual(['a:firing', 'b:resolved', 'c:firing']);
    const real = await deliver('PartlyLate', [
      { instance: 'a', status: 'resolved', startsAt: later },
      { instance: 'b', status: 'resolved' },
      { instance: 'c' },
    ]);
    expect(real.outcome).toBe('updated');
  });

  it('ignores a resolved group that has no open incident', async () => {
    const result = await deliver('NeverSeen', [{ instance: 'a', status: 'resolved' }]);
    expect(result).toEqual({ outcome: 'ignored' });
    expect(await incidentsOf('NeverSeen')).toHaveLength(0);
  });

  it('raises severity to the most urgent firing alert, and records the change', async () => {
    const opened = await deliver('Escalates', [{ instance: 'a', severity: 'warning' }], {
      commonLabels: { severity: 'warning' },
    });
    expect((await incidentsOf('Escalates'))[0].severity).toBe('P1');
    await deliver('Escalates', [
      { instance: 'a', severity: 'warning' },
      { instance: 'b', severity: 'critical' },
    ]);
    expect((await incidentsOf('Escalates'))[0].severity).toBe('P0');
    const changes = (await timelineOf(opened.incident!.id)).filter((e) => e.kind === 'severity_changed');
    expect(changes.map((e) => e.data)).toEqual([{ from: 'P1', to: 'P0' }]);
  });

  it('stores labels named __proto__ and constructor as ordinary labels', async () => {
    // As JSON.parse makes them: own keys, where an object literal's __proto__ would set the prototype.
    const labels = JSON.parse('{"__proto__": "x", "constructor": "y"}');
    const { incident } = await deliver('ProtoLabels', [{ instance: 'a', labels }]);
    const { rows } = await pool.query(
      "SELECT labels->>'__proto__' AS proto, labels->>'constructor' AS ctor FROM alerts WHERE incident_id = $1",
      [incident!.id],
    );
    expect(rows).toEqual([{ proto: 'x', ctor: 'y' }]);
  });

  describe('a group firing again soon after its incident resolved', () => {
    const incidentRow = async (id: number) =>
      (
        await pool.query(
          `SELECT state, status, resolution, resolved_at, reopen_count, version, next_update_due_at,
                  next_update_due_at - updated_at AS due_after
             FROM incidents WHERE id = $1`,
          [id],
        )
      ).rows[0];
    const kindsOf = async (id: number) => (await timelineOf(id)).map((e) => e.kind);
    /** Opens an incident for `group`, resolves it, and returns its id and when it resolved. */
    const resolvedIncident = async (group: string) => {
      const { incident } = await deliver(group, [{ instance: 'a' }]);
      await deliver(group, [{ instance: 'a', status: 'resolved' }]);
      const { resolved_at } = await incidentRow(incident!.id);
      return { id: incident!.id, resolvedAt: resolved_at as Date, version: incident!.version + 1 };
    };
    const resolvedAgo = (id: number, minutes: number) =>
      pool.query("UPDATE incidents SET resolved_at = resolved_at - $2 * interval '1 minute' WHERE id = $1", [
        id,
        minutes,
      ]);

    it('reopens the same incident, and tells its thread, within alerts.reopenWithin', async () => {
      const resolved = await resolvedIncident('Reopens');
      await resolvedAgo(resolved.id, 29);
      const again = await deliver('Reopens', [{ instance: 'a', startsAt: LATER }]);
      expect(again).toEqual({
        outcome: 'reopened',
        incident: { id: resolved.id, version: resolved.version + 1, severity: 'P0' },
        slackBehind: true,
        // Its first reopening: escalation starts again for it.
        opening: 1,
      });
      expect(await incidentsOf('Reopens')).toHaveLength(1);
      expect(await incidentRow(resolved.id)).toMatchObject({
        state: 'open',
        status: 'investigating',
        resolved_at: null,
        reopen_count: 1,
        // Nobody posted status updates: none are due, as for an incident Alertmanager just opened.
        next_update_due_at: null,
      });
      const timeline = await timelineOf(resolved.id);
      expect(timeline.slice(-2)).toEqual([
        {
          kind: 'incident_reopened',
          data: {
            reopenCount: 1,
            resolvedAt: new Date(resolved.resolvedAt.getTime() - 29 * 60_000).toISOString(),
          },
        },
        { kind: 'alert_firing', data: expect.objectContaining({ startsAt: new Date(LATER).toISOString() }) },
      ]);
    });

    it('opens a new incident once alerts.reopenWithin has passed', async () => {
      const resolved = await resolvedIncident('ReopensTooLate');
      await resolvedAgo(resolved.id, 31);
      const again = await deliver('ReopensTooLate', [{ instance: 'a', startsAt: LATER }]);
      expect(again.outcome).toBe('created');
      expect((await incidentsOf('ReopensTooLate')).map((i) => i.state)).toEqual(['resolved', 'open']);
      expect(await kindsOf(resolved.id)).not.toContain('incident_reopened');
    });

    it('never reopens with reopenWithin: none', async () => {
      const never = parseFileConfig(
        'test',
        'slack: { defaultChannel: C0DEFAULT1 }\nalerts: { reopenWithin: none }',
      );
      await resolvedIncident('NeverReopens');
      const again = await deliver('NeverReopens', [{ instance: 'a', startsAt: LATER }], {}, never);
      expect(again.outcome).toBe('created');
      expect((await incidentsOf('NeverReopens')).map((i) => i.state)).toEqual(['resolved', 'open']);
    });

    it('does not reopen for a late copy of what resolved, within alerts.lateCopyWindow', async () => {
      const { id } = await deliver('LateNoReopen', [{ instance: 'a' }, { instance: 'b' }]).then(
        (r) => r.incident!,
      );
      await deliver('LateNoReopen', [
        { instance: 'a', status: 'resolved' },
        { instance: 'b', status: 'resolved' },
      ]);
      // Lagging peers: the old firing notification, and one from when only a had resolved.
      expect((await deliver('LateNoReopen', [{ instance: 'a' }, { instance: 'b' }])).outcome).toBe('stale');
      const partly = [{ instance: 'a', status: 'resolved' as const }, { instance: 'b' }];
      expect((await deliver('LateNoReopen', partly)).outcome).toBe('stale');
      expect(await incidentRow(id)).toMatchObject({ state: 'resolved', reopen_count: 0 });
      expect(await kindsOf(id)).not.toContain('incident_reopened');
    });

    it('reopens exactly once when many Alertmanager peers deliver the new firing at the same moment', async () => {
      const resolved = await resolvedIncident('ReopenRace');
      const deliveries = Array.from({ length: 12 }, (_, i) =>
        deliver('ReopenRace', [{ instance: 'a', startsAt: LATER }, ...(i % 2 ? [{ instance: 'b' }] : [])]),
      );
      const results = await Promise.all(deliveries);
      expect(results.filter((r) => r.outcome === 'reopened')).toHaveLength(1);
      expect(results.filter((r) => r.outcome === 'created')).toHaveLength(0);
      expect(new Set(results.map((r) => r.incident?.id))).toEqual(new Set([resolved.id]));
      expect((await incidentsOf('ReopenRace')).map((i) => i.state)).toEqual(['open']);
      expect(await incidentRow(resolved.id)).toMatchObject({ state: 'open', reopen_count: 1 });
      expect((await kindsOf(resolved.id)).filter((k) => k === 'incident_reopened')).toHaveLength(1);
      const { rows } = await pool.query(
        "SELECT count(*)::int AS n FROM alerts WHERE incident_id = $1 AND status = 'firing'",
        [resolved.id],
      );
      expect(rows[0].n).toBe(2);
    });

    it('joins the incident another delivery opened while it was reopening the old one (the window edge)', async () => {
      // One peer's delivery judged the old incident just outside the window and opened a new one; this
      // one, a moment earlier, judged it inside and reopens it: the unique index on open groups decides.
      const resolved = await resolvedIncident('ReopenEdge');
      const other = await pool.connect();
      try {
        await other.query('BEGIN');
        const { rows } = await other.query<{ id: number }>(
          `INSERT INTO incidents (title, severity, group_key, channel_id)
             SELECT title, severity, group_key, channel_id FROM incidents WHERE id = $1
           RETURNING id::int AS id`,
          [resolved.id],
        );
        const delivery = deliver('ReopenEdge', [{ instance: 'a', startsAt: LATER }]);
        // The reopening waits on the uncommitted open incident, then finds it committed.
        await waitForLockWaiters(pool, 1, 'the reopening to wait on the other open incident');
        await other.query('COMMIT');
        const result = await delivery;
        expect(result).toMatchObject({ outcome: 'updated', incident: { id: rows[0]!.id } });
        expect((await incidentsOf('ReopenEdge')).map((i) => i.state)).toEqual(['resolved', 'open']);
      } finally {
        other.release();
      }
    });

    it('reopens an incident resolved by hand, clearing its resolution and resuming its status updates', async () => {
      const effects = recordingEffects();
      const lifecycle = { pool, config, effects };
      const { incident } = await deliver('ReopenByHand', [{ instance: 'a' }]);
      const id = incident!.id;
      await postStatusUpdate(lifecycle, id, { status: 'identified', text: 'Pool exhausted', by: 'U0ALICE' });
      await resolveIncident(lifecycle, id, 'Raised the pool size', 'U0ALICE');
      expect(await incidentRow(id)).toMatchObject({ state: 'resolved', next_update_due_at: null });

      // Its alert never resolved in Alertmanager; now another of the group fires too.
      const again = await deliver('ReopenByHand', [{ instance: 'a' }, { instance: 'b' }]);
      expect(again.outcome).toBe('reopened');
      expect(again.incident!.id).toBe(id);
      const row = await incidentRow(id);
      expect(row).toMatchObject({
        state: 'open',
        status: 'investigating',
        resolution: null,
        reopen_count: 1,
      });
      // P0 (critical) updates are due every 15 minutes: the next one 15 minutes from the reopening.
      expect(row.due_after).toEqual({ minutes: 15 });
      expect(again.updateDue).toEqual({ updateCount: 1, dueAt: row.next_update_due_at });
      expect((await kindsOf(id)).slice(-3)).toEqual([
        'incident_resolved',
        'incident_reopened',
        'alert_firing',
      ]);
    });

    it("measures a reopened incident's resolution from its reopening, in the thread as in the metric", async () => {
      const days = (id: number) =>
        pool.query("UPDATE incidents SET created_at = created_at - interval '3 days' WHERE id = $1", [id]);
      const openedAgo = (id: number) =>
        pool.query("UPDATE incidents SET opened_at = now() - interval '30 minutes' WHERE id = $1", [id]);
      const resolvedAfter = async (id: number) =>
        (await timelineOf(id)).filter((e) => e.kind === 'incident_resolved').at(-1).data.durationMs as number;
      const HALF_HOUR = 30 * 60_000;

      // By its alerts.
      const { id } = await resolvedIncident('ReopenMeasured');
      await days(id);
      expect((await deliver('ReopenMeasured', [{ instance: 'a', startsAt: LATER }])).outcome).toBe(
        'reopened',
      );
      await openedAgo(id);
      const resolved = await deliver('ReopenMeasured', [
        { instance: 'a', startsAt: LATER, status: 'resolved' },
      ]);
      expect(resolved.resolved!.afterMs).toBeGreaterThanOrEqual(HALF_HOUR);
      expect(resolved.resolved!.afterMs).toBeLessThan(HALF_HOUR + 60_000);
      expect(Math.abs((await resolvedAfter(id)) - resolved.resolved!.afterMs)).toBeLessThan(1000);

      // By hand.
      const third = '2026-11-23T11:00:00Z';
      expect((await deliver('ReopenMeasured', [{ instance: 'a', startsAt: third }])).outcome).toBe(
        'reopened',
      );
      await openedAgo(id);
      const byHand = await resolveIncident(
        { pool, config, effects: recordingEffects() },
        id,
        'Fixed',
        'U0ALICE',
      );
      expect(byHand.afterMs).toBeGreaterThanOrEqual(HALF_HOUR);
      expect(Math.abs((await resolvedAfter(id)) - byHand.afterMs)).toBeLessThan(1000);
    });

    it('counts each reopening', async () => {
      const { id } = await resolvedIncident('ReopensTwice');
      expect((await deliver('ReopensTwice', [{ instance: 'a', startsAt: LATER }])).outcome).toBe('reopened');
      await deliver('ReopensTwice', [{ instance: 'a', startsAt: LATER, status: 'resolved' }]);
      const third = '2026-11-23T11:00:00Z';
      expect((await deliver('ReopensTwice', [{ instance: 'a', startsAt: third }])).outcome).toBe('reopened');
      expect(await incidentRow(id)).toMatchObject({ state: 'open', reopen_count: 2 });
      const reopenings = (await timelineOf(id)).filter((e) => e.kind === 'incident_reopened');
      expect(reopenings.map((e) => e.data.reopenCount)).toEqual([1, 2]);
    });
  });

  it('writes nothing when a delivery fails half way', async () => {
    // Fault injection: the alert insert fails after the incident row was written in the same transaction.
    await pool.query(`
      CREATE FUNCTION poison() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.labels->>'instance' = 'poison' THEN RAISE EXCEPTION 'poisoned alert'; END IF;
        RETURN NEW;
      END $$;
      CREATE TRIGGER poison BEFORE INSERT ON alerts FOR EACH ROW EXECUTE FUNCTION poison();`);
    const before = (await pool.query('SELECT count(*)::int AS n FROM timeline_entries')).rows[0].n;
    await expect(deliver('HalfWay', [{ instance: 'fine' }, { instance: 'poison' }])).rejects.toThrow(
      'poisoned alert',
    );
    expect(await incidentsOf('HalfWay')).toHaveLength(0);
    expect((await pool.query('SELECT count(*)::int AS n FROM timeline_entries')).rows[0].n).toBe(before);
    await pool.query('DROP TRIGGER poison ON alerts; DROP FUNCTION poison();');
  });
});
