import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deliveryDigest, ingestDelivery } from '../../src/alerts/ingest.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');

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
  ) => ingestDelivery(pool, config, WebhookPayloadSchema.parse(payload({ group, alerts, ...extra })));
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

  it('resolves the incident when the group resolves, including alerts Alertmanager truncated away', async () => {
    const opened = await deliver('Truncated', [{ instance: 'a' }, { instance: 'b' }, { instance: 'c' }]);
    // Only one alert listed, two truncated: the group status says they all resolved.
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

  it('ignores a late firing copy of alerts that already resolved, and opens a new incident when they fire again', async () => {
    await deliver('Flapping', [{ instance: 'a' }]);
    await deliver('Flapping', [{ instance: 'a', status: 'resolved' }]);
    // A lagging peer re-sends the old firing notification: same startsAt, so it is not news.
    const late = await deliver('Flapping', [{ instance: 'a' }]);
    expect(late.outcome).toBe('stale');
    expect(await incidentsOf('Flapping')).toHaveLength(1);
    const refired = await deliver('Flapping', [{ instance: 'a', startsAt: '2026-11-23T10:00:00Z' }]);
    expect(refired.outcome).toBe('created');
    expect((await incidentsOf('Flapping')).map((i) => i.state)).toEqual(['resolved', 'open']);
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
    expect((await deliver('WindowClock', [{ instance: 'a' }])).outcome).toBe('created');
    expect((await incidentsOf('WindowClock')).map((i) => i.state)).toEqual(['resolved', 'open']);
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
