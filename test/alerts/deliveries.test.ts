import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  acceptDeliveries,
  deliveriesWaiting,
  forgetIngestedDeliveries,
  IngestFailed,
  ingestNextDelivery,
  MAX_INGEST_ATTEMPTS,
} from '../../src/alerts/deliveries.js';
import { AcceptWaitedTooLong, DeliveryAcceptor } from '../../src/alerts/deliveryAcceptor.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import {
  createTestDatabase,
  refuseInserts,
  type TestDatabase,
  waitForLockWaiters,
} from '../support/services.js';

const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');

describe('alert deliveries: stored first, ingested in order per group', () => {
  let db: TestDatabase;
  let pool: Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, 10);
    await migrate(pool);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });
  beforeEach(async () => {
    await pool.query('DROP TRIGGER IF EXISTS refuse_group ON incidents');
    await pool.query('TRUNCATE alert_deliveries, incidents CASCADE');
  });

  const notification = (group: string, alerts: AlertSpec[] = [{ instance: 'pod-1' }]) =>
    WebhookPayloadSchema.parse(payload({ group, alerts }));
  const store = async (group: string, alerts?: AlertSpec[]) => {
    const [accepted] = await acceptDeliveries(pool, [notification(group, alerts)]);
    if (accepted?.outcome !== 'accepted') throw new Error(`${group} was not stored`);
    return accepted.deliveryId;
  };
  const rowOf = async (id: number) =>
    (
      await pool.query(
        'SELECT outcome, incident_id::int, error, attempts, processed_at IS NOT NULL AS processed, payload IS NOT NULL AS kept FROM alert_deliveries WHERE id = $1',
        [id],
      )
    ).rows[0];
  /** Makes ingesting any delivery of `group` fail with `sqlstate` when it opens an incident. */
  const failOpening = (group: string, sqlstate: string) => refuseInserts(pool, 'incidents', group, sqlstate);

  it('records what ingesting each came to, and answers a repeat of what the incident shows without storing it', async () => {
    const first = await store('Recorded');
    const ingested = await ingestNextDelivery(pool, config);
    expect(ingested).toMatchObject({
      deliveryId: first,
      outcome: 'ingested',
      result: { outcome: 'created' },
    });
    const incidentId = ingested?.outcome === 'ingested' ? ingested.result.incident?.id : undefined;
    expect(await rowOf(first)).toMatchObject({
      outcome: 'created',
      incident_id: incidentId,
      processed: true,
    });
    expect(await ingestNextDelivery(pool, config)).toBeUndefined();

    expect(await acceptDeliveries(pool, [notification('Recorded')])).toEqual([
      { outcome: 'duplicate', incidentId },
    ]);
    const { rows } = await pool.query('SELECT count(*)::int AS n FROM alert_deliveries');
    expect(rows[0].n).toBe(1);
  });

  it('stores a repeat while a delivery of its group waits: it must be judged after that one', async () => {
    await store('Waiting');
    await ingestNextDelivery(pool, config);
    // A change waits; then the notification before it comes again, as a lagging peer would send it.
    await store('Waiting', [{ instance: 'pod-1' }, { instance: 'pod-2' }]);
    expect(await acceptDeliveries(pool, [notification('Waiting')])).toMatchObject([{ outcome: 'accepted' }]);
    expect(await deliveriesWaiting(pool)).toMatchObject({ count: 2 });
  });

  it('takes another group while a group’s first delivery is being ingested, never the group’s next', async () => {
    const a1 = await store('HeldA');
    const a2 = await store('HeldA', [{ instance: 'pod-1' }, { instance: 'pod-2' }]);
    const b1 = await store('HeldB');
    // a1 is being ingested by someone else.
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('UPDATE alert_deliveries SET processed_at = now() WHERE id = $1', [a1]);
      expect(await ingestNextDelivery(pool, config)).toMatchObject({ deliveryId: b1 });
      expect(await ingestNextDelivery(pool, config)).toBeUndefined();
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    expect(await ingestNextDelivery(pool, config)).toMatchObject({ deliveryId: a1 });
    expect(await ingestNextDelivery(pool, config)).toMatchObject({
      deliveryId: a2,
      result: { outcome: 'updated' },
    });
  });

  it('refuses at once a delivery PostgreSQL will never take (a data exception), and goes on', async () => {
    await failOpening('Never', '22023');
    const refused = await store('Never');
    const next = await store('Fine');
    expect(await ingestNextDelivery(pool, config)).toMatchObject({
      deliveryId: refused,
      outcome: 'refused',
      error: expect.stringContaining('refused by the test'),
    });
    // Kept, unlike an ingested one's, for whoever looks into why.
    expect(await rowOf(refused)).toMatchObject({
      outcome: 'refused',
      processed: true,
      incident_id: null,
      kept: true,
    });
    expect(await ingestNextDelivery(pool, config)).toMatchObject({ deliveryId: next, outcome: 'ingested' });
  });

  /** The retries it was given are due now. */
  const retryNow = () =>
    pool.query('UPDATE alert_deliveries SET retry_at = now() WHERE retry_at IS NOT NULL');

  it(`tries a delivery that fails otherwise ${MAX_INGEST_ATTEMPTS} times, backing off, then refuses it; the group's next waits till then`, async () => {
    await failOpening('Failing', '25006'); // a failover's read-only primary, say
    const failing = await store('Failing');
    const after = await store('Failing', [{ instance: 'pod-1' }, { instance: 'pod-2' }]);
    for (let attempt = 1; attempt < MAX_INGEST_ATTEMPTS; attempt++) {
      await expect(ingestNextDelivery(pool, config)).rejects.toThrow(IngestFailed);
      expect(await rowOf(failing)).toMatchObject({ attempts: attempt, processed: false });
      // Not again before its retry, and its group's next not before it.
      expect(await ingestNextDelivery(pool, config)).toBeUndefined();
      await retryNow();
    }
    const { rows } = await pool.query(
      'SELECT extract(epoch FROM retry_at - now()) AS wait FROM alert_deliveries WHERE id = $1',
      [after],
    );
    expect(rows[0].wait).toBeNull();
    expect(await ingestNextDelivery(pool, config)).toMatchObject({ deliveryId: failing, outcome: 'refused' });
    expect(await rowOf(failing)).toMatchObject({ attempts: MAX_INGEST_ATTEMPTS, outcome: 'refused' });
    await expect(ingestNextDelivery(pool, config)).rejects.toThrow('refused by the test');
    expect(await rowOf(after)).toMatchObject({ attempts: 1, processed: false });
  });

  it('goes on with other groups while one waits for its retry', async () => {
    await failOpening('Stuck', '57014'); // a statement timeout, each time
    const stuck = await store('Stuck');
    const other = await store('Other');
    await expect(ingestNextDelivery(pool, config)).rejects.toThrow(IngestFailed);
    expect(await ingestNextDelivery(pool, config)).toMatchObject({ deliveryId: other, outcome: 'ingested' });
    const { rows } = await pool.query(
      'SELECT extract(epoch FROM retry_at - now())::float8 AS wait FROM alert_deliveries WHERE id = $1',
      [stuck],
    );
    expect(rows[0].wait).toBeGreaterThan(0);
    expect(rows[0].wait).toBeLessThanOrEqual(1);
  });

  it('leaves a delivery waiting, its attempts untouched, when its connection is lost', async () => {
    // The session ends under the ingest, as when the server restarts.
    await pool.query(`CREATE OR REPLACE FUNCTION refuse_group() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NEW; END $$`);
    await pool.query(
      'CREATE TRIGGER refuse_group BEFORE INSERT ON incidents FOR EACH ROW EXECUTE FUNCTION refuse_group()',
    );
    const waiting = await store('Lost');
    await expect(ingestNextDelivery(pool, config)).rejects.toThrow(/terminat/);
    expect(await rowOf(waiting)).toMatchObject({ attempts: 0, processed: false, error: null });
    await pool.query('DROP TRIGGER refuse_group ON incidents');
    expect(await ingestNextDelivery(pool, config)).toMatchObject({
      deliveryId: waiting,
      outcome: 'ingested',
    });
  });

  it('forgets deliveries a day after they were ingested, never one still waiting', async () => {
    const old = await store('Old');
    await ingestNextDelivery(pool, config);
    const waiting = await store('Young');
    await pool.query(
      "UPDATE alert_deliveries SET processed_at = now() - interval '25 hours', received_at = now() - interval '25 hours'",
    );
    await pool.query('UPDATE alert_deliveries SET processed_at = NULL WHERE id = $1', [waiting]);
    expect(await forgetIngestedDeliveries(pool)).toBe(1);
    expect(await rowOf(old)).toBeUndefined();
    expect(await rowOf(waiting)).toMatchObject({ processed: false });
  });

  it('leaves an ingested delivery marked dead in the index of waiting ones: later claims do not read it again', async () => {
    // Each claim looks for the oldest waiting delivery through the index of waiting ones. Its entries for
    // deliveries already ingested stay there until VACUUM (which a busy table waits for), and a scan
    // skips one cheaply only once a scan before it found its row dead to every transaction and marked it.
    // Not VACUUMed behind the test's back either.
    await pool.query('ALTER TABLE alert_deliveries SET (autovacuum_enabled = off)');
    for (let i = 0; i < 200; i++) await store(`Walked${i}`);
    for (let i = 0; i < 200; i++) await ingestNextDelivery(pool, config);
    await store('Next');
    const walk = async () => {
      const { rows } = await pool.query(
        `EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON)
         SELECT id FROM alert_deliveries WHERE processed_at IS NULL ORDER BY id LIMIT 1`,
      );
      const plan = rows[0]['QUERY PLAN'][0].Plan;
      expect(plan.Plans[0]).toMatchObject({ 'Index Name': 'alert_deliveries_waiting_order' });
      return plan['Shared Hit Blocks'] + plan['Shared Read Blocks'];
    };
    await walk();
    // Not the 200 ingested rows read again (26 blocks), as when none of them could be marked.
    expect(await walk()).toBeLessThan(10);
  });

  describe('the webhook accepts the deliveries arriving together in one statement', () => {
    beforeEach(async () => {
      vi.restoreAllMocks();
      await pool.query('DROP TRIGGER IF EXISTS refuse_group ON alert_deliveries');
    });

    /** The names of the statements the pool was sent, in order. */
    const statements = () => {
      const spy = vi.spyOn(pool, 'query');
      return () => spy.mock.calls.map(([query]) => (query as unknown as { name?: string }).name);
    };
    const storedIds = async (group: string) =>
      (
        await pool.query<{ id: number }>(
          'SELECT id::int FROM alert_deliveries WHERE group_key LIKE $1 ORDER BY id',
          [`%${group}%`],
        )
      ).rows.map((row) => row.id);

    it('sends the first at once, and those that arrive while it runs together in the next statement', async () => {
      const acceptor = new DeliveryAcceptor(pool);
      const sent = statements();
      const accepted = await Promise.all(
        Array.from({ length: 10 }, (_, i) => acceptor.accept(notification(`Together${i}`))),
      );
      expect(accepted.every((a) => a.outcome === 'accepted')).toBe(true);
      expect(new Set(accepted.map((a) => (a.outcome === 'accepted' ? a.deliveryId : 0))).size).toBe(10);
      // One delivery, then nine: each batch reads once and stores once.
      expect(sent()).toEqual([
        'deliveries-known',
        'deliveries-store',
        'deliveries-known',
        'deliveries-store',
      ]);
      for (let i = 0; i < 10; i++) expect(await storedIds(`Together${i}"`)).toHaveLength(1);
    });

    it('accepts a group’s deliveries one statement after another, in the order they came', async () => {
      const acceptor = new DeliveryAcceptor(pool);
      const sent = statements();
      const accepted = await Promise.all([
        acceptor.accept(notification('Ordered', [{ instance: 'pod-1' }])),
        acceptor.accept(notification('Ordered', [{ instance: 'pod-1' }, { instance: 'pod-2' }])),
        acceptor.accept(notification('Other')),
        acceptor.accept(
          notification('Ordered', [{ instance: 'pod-1' }, { instance: 'pod-2' }, { instance: 'pod-3' }]),
        ),
      ]);
      const ids = accepted.map((a) => (a.outcome === 'accepted' ? a.deliveryId : 0));
      expect(ids[0]).toBeLessThan(ids[1]!);
      expect(ids[1]).toBeLessThan(ids[3]!);
      expect(await storedIds('Ordered"')).toEqual([ids[0], ids[1], ids[3]]);
      // [Ordered], [Ordered, Other], [Ordered]
      expect(sent().filter((name) => name === 'deliveries-store')).toHaveLength(3);
    });

    it('refuses only the delivery PostgreSQL will never take, not the others of its statement', async () => {
      await refuseInserts(pool, 'alert_deliveries', 'Refused', '22023');
      const acceptor = new DeliveryAcceptor(pool);
      const [first, ...together] = await Promise.allSettled([
        acceptor.accept(notification('First')),
        acceptor.accept(notification('Before')),
        acceptor.accept(notification('Refused')),
        acceptor.accept(notification('After')),
      ]);
      expect(first).toMatchObject({ status: 'fulfilled', value: { outcome: 'accepted' } });
      expect(together[0]).toMatchObject({ status: 'fulfilled', value: { outcome: 'accepted' } });
      expect(together[1]).toMatchObject({ status: 'rejected', reason: { code: '22023' } });
      expect((together[1] as PromiseRejectedResult).reason).toBeInstanceOf(pg.DatabaseError);
      expect(together[2]).toMatchObject({ status: 'fulfilled', value: { outcome: 'accepted' } });
      expect(await storedIds('Refused')).toEqual([]);
      expect(await storedIds('After')).toHaveLength(1);
    });

    it('answers those waiting behind a statement that does not come back that the database is busy', async () => {
      const acceptor = new DeliveryAcceptor(pool);
      const holder = await pool.connect();
      try {
        await holder.query('BEGIN');
        await holder.query('LOCK TABLE alert_deliveries IN ACCESS EXCLUSIVE MODE');
        const stuck = acceptor.accept(notification('Stuck'));
        await waitForLockWaiters(pool, 1, 'the first statement');
        const behind = acceptor.accept(notification('Behind'));
        await expect(behind).rejects.toBeInstanceOf(AcceptWaitedTooLong);
        await holder.query('ROLLBACK');
        await expect(stuck).resolves.toMatchObject({ outcome: 'accepted' });
        // Nothing of the one refused was written; the next goes on at once.
        expect(await storedIds('Behind')).toEqual([]);
        await expect(acceptor.accept(notification('Next'))).resolves.toMatchObject({ outcome: 'accepted' });
      } finally {
        await holder.query('ROLLBACK').catch(() => {});
        holder.release();
      }
    });
  });
});
