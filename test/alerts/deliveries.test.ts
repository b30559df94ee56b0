import { createHash } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import {
  type Accepted,
  acceptDeliveries,
  type Delivery,
  deliveriesWaiting,
  deliveryOf,
  forgetIngestedDeliveries,
  IngestFailed,
  ingestNextDelivery,
  MAX_INGEST_ATTEMPTS,
} from '../../src/alerts/deliveries.js';
import { AcceptWaitedTooLong, DeliveryAcceptor } from '../../src/alerts/deliveryAcceptor.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { ShownDigests } from '../../src/alerts/shownDigests.js';
import { parseFileConfig } from '../../src/config/file.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { resolveIncident } from '../../src/incidents/lifecycle.js';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { countingPool } from '../support/countingPool.js';
import { recordingEffects } from '../support/incidents.js';
import { createTestDatabase, refuseInserts, type TestDatabase } from '../support/services.js';
import { startTcpProxy } from '../support/tcpProxy.js';

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
    deliveryOf(WebhookPayloadSchema.parse(payload({ group, alerts })));
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

  it('ingests a change of an open incident in five round trips: its late copies go with its alerts, its record with the commit', async () => {
    await store('Trips');
    await ingestNextDelivery(pool, config);
    await store('Trips', [{ instance: 'pod-1' }, { instance: 'pod-2' }]);
    const { pool: counting, sent } = countingPool(pool);
    expect(await ingestNextDelivery(counting, config)).toMatchObject({ result: { outcome: 'updated' } });
    // The claim, the incident's lock, its alerts (and late copies), the incident, the record and commit.
    expect(sent).toHaveLength(5);
    expect(sent[4]).toMatch(/UPDATE alert_deliveries[\s\S]*COMMIT/);
  });

  // Past a btree entry's 2,704 bytes the store failed, answered 500 for ever: the group was never shown.
  it('stores and ingests a group whose key is longer than an index entry holds, as one group', async () => {
    // Labels of UUIDs and digests, which do not compress: 3,200 characters.
    const key = `{}:{digest="${Array.from({ length: 100 }, (_, i) => createHash('sha256').update(String(i)).digest('hex').slice(0, 32)).join('')}"}`;
    const long = (alerts: AlertSpec[]) =>
      deliveryOf(WebhookPayloadSchema.parse({ ...payload({ group: 'LongKey', alerts }), groupKey: key }));
    expect(await acceptDeliveries(pool, [long([{ instance: 'pod-1' }])])).toMatchObject([
      { outcome: 'accepted' },
    ]);
    expect(await ingestNextDelivery(pool, config)).toMatchObject({ result: { outcome: 'created' } });
    await acceptDeliveries(pool, [long([{ instance: 'pod-1' }, { instance: 'pod-2' }])]);
    expect(await ingestNextDelivery(pool, config)).toMatchObject({ result: { outcome: 'updated' } });
    const { rows } = await pool.query("SELECT group_key FROM incidents WHERE title LIKE 'LongKey%'");
    expect(rows).toHaveLength(1);
    // Its start, readable, and a digest of the whole.
    expect(rows[0].group_key).toMatch(/^\{\}:\{digest="[0-9a-f]{188}… sha256:[0-9a-f]{64}$/);
  });

  it('records the error of a delivery it refuses as it was, quotes and backslashes included', async () => {
    const odd = "it's \\ odd, ''\\'' E'\\x41'";
    await refuseInserts(pool, 'incidents', 'Odd', '22023', odd);
    const refused = await store('Odd');
    expect(await ingestNextDelivery(pool, config)).toMatchObject({
      outcome: 'refused',
      error: `22023: ${odd}`,
    });
    expect(await rowOf(refused)).toMatchObject({
      outcome: 'refused',
      error: `22023: ${odd}`,
      attempts: 1,
      kept: true,
    });
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

  it('leaves a delivery waiting when its commit fails, and throws what failed it', async () => {
    // A check made only at the commit: a deferred constraint trigger on the delivery's record.
    await pool.query(`CREATE OR REPLACE FUNCTION refuse_commit() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'refused at commit by the test' USING ERRCODE = '23514'; END $$`);
    await pool.query(`CREATE CONSTRAINT TRIGGER refuse_commit AFTER UPDATE ON alert_deliveries
      DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.group_key LIKE '%AtCommit%')
      EXECUTE FUNCTION refuse_commit()`);
    try {
      const waiting = await store('AtCommit');
      await expect(ingestNextDelivery(pool, config)).rejects.toThrow('refused at commit by the test');
      expect(await rowOf(waiting)).toMatchObject({ attempts: 0, processed: false, error: null });
    } finally {
      await pool.query('DROP TRIGGER refuse_commit ON alert_deliveries');
    }
  });

  it('counts an attempt when its record fails, as when its ingest does, and goes on with the others', async () => {
    // A statement timeout on the record alone: the claim leaves the outcome unset.
    await pool.query(`CREATE OR REPLACE FUNCTION refuse_record() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN RAISE EXCEPTION 'record refused by the test' USING ERRCODE = '57014'; END $$`);
    await pool.query(`CREATE TRIGGER refuse_record BEFORE UPDATE ON alert_deliveries FOR EACH ROW
      WHEN (NEW.outcome IS NOT NULL AND NEW.group_key LIKE '%RecordFails%') EXECUTE FUNCTION refuse_record()`);
    try {
      const failing = await store('RecordFails');
      const other = await store('Other');
      await expect(ingestNextDelivery(pool, config)).rejects.toThrow(IngestFailed);
      expect(await rowOf(failing)).toMatchObject({
        attempts: 1,
        processed: false,
        error: expect.stringContaining('record refused by the test'),
      });
      expect(await ingestNextDelivery(pool, config)).toMatchObject({
        deliveryId: other,
        outcome: 'ingested',
      });
    } finally {
      await pool.query('DROP TRIGGER refuse_record ON alert_deliveries');
    }
  });

  it('stores and ingests deliveries whose ids are past 2^31, as a busy bot reaches in time', async () => {
    await pool.query('ALTER SEQUENCE alert_deliveries_id_seq RESTART WITH 2147483648');
    try {
      const id = await store('Far');
      expect(id).toBe(2 ** 31);
      expect(await ingestNextDelivery(pool, config)).toMatchObject({ deliveryId: id, outcome: 'ingested' });
      expect(await rowOf(id)).toMatchObject({ outcome: 'created', processed: true });
    } finally {
      // The rows go with the next test's TRUNCATE; the ids start again from 1.
      await pool.query('ALTER SEQUENCE alert_deliveries_id_seq RESTART');
    }
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

  describe('the webhook accepts the deliveries arriving together in one batch', () => {
    beforeEach(async () => {
      vi.restoreAllMocks();
      await pool.query('DROP TRIGGER IF EXISTS refuse_group ON alert_deliveries');
    });

    const pods = (n: number): AlertSpec[] => Array.from({ length: n }, (_, i) => ({ instance: `pod-${i}` }));
    /** Each accepted as the webhook does: all at once, the first alone, the rest in the batches after. */
    const acceptAll = (acceptor: DeliveryAcceptor, deliveries: Delivery[]) =>
      Promise.allSettled(deliveries.map((d) => acceptor.accept(d, JSON.stringify(d.payload()).length)));
    const value = (result: PromiseSettledResult<Accepted> | undefined) =>
      result?.status === 'fulfilled' ? result.value : undefined;
    const deliveryIdOf = (result: PromiseSettledResult<Accepted>) => {
      const accepted = value(result);
      return accepted?.outcome === 'accepted' ? accepted.deliveryId : undefined;
    };
    /** What `n` batches that each store something send: a read, then an insert. */
    const batches = (n: number) => Array(n).fill(['deliveries-known', 'deliveries-store']).flat();
    /** The webhook's statements (named, unlike the test's own) the pool is sent from now on, in order. */
    const statements = () => {
      const spy = vi.spyOn(pool, 'query');
      return () =>
        spy.mock.calls.map(([query]) => (query as unknown as { name?: string }).name).filter(Boolean);
    };
    const storedIds = async (group: string) =>
      (
        await pool.query<{ id: number }>(
          'SELECT id::int FROM alert_deliveries WHERE group_key LIKE $1 ORDER BY id',
          [`%"${group}"%`],
        )
      ).rows.map((row) => row.id);

    it('sends the first at once, and those that arrive while it runs together in the next batch', async () => {
      const sent = statements();
      const results = await acceptAll(
        new DeliveryAcceptor(pool),
        Array.from({ length: 10 }, (_, i) => notification(`Together${i}`)),
      );
      const ids = results.map(deliveryIdOf);
      expect(new Set(ids).size).toBe(10);
      for (let i = 0; i < 10; i++) expect(await storedIds(`Together${i}`)).toEqual([ids[i]]);
      // One delivery, then nine: each batch reads once and stores once.
      expect(sent()).toEqual(batches(2));
    });

    it('answers the repeats of a batch from its read and stores only the rest', async () => {
      await store('Shown');
      await ingestNextDelivery(pool, config);
      const sent = statements();
      const [first, repeat, change] = await acceptAll(new DeliveryAcceptor(pool), [
        notification('First'),
        notification('Shown'),
        notification('Changed'),
      ]);
      expect(value(first)).toMatchObject({ outcome: 'accepted' });
      expect(value(repeat)).toMatchObject({ outcome: 'duplicate' });
      expect(value(change)).toMatchObject({ outcome: 'accepted' });
      expect(await storedIds('Shown')).toHaveLength(1);
      expect(await storedIds('Changed')).toHaveLength(1);
      expect(sent()).toEqual(batches(2));
    });

    it('accepts a group’s deliveries one batch after another, so that a repeat never hides the change before it', async () => {
      await store('Ordered');
      await ingestNextDelivery(pool, config);
      const results = await acceptAll(new DeliveryAcceptor(pool), [
        notification('Other'),
        notification('Ordered', pods(2)),
        // What the incident shows, again, behind a change of it: judged after the change, it is stored (with
        // no read: it differs from the change this acceptor took last; the read's own rule is tested above).
        notification('Ordered'),
        notification('Ordered', pods(3)),
      ]);
      const ids = results.map(deliveryIdOf);
      expect(ids.slice(1).every((id) => id !== undefined)).toBe(true);
      expect((await storedIds('Ordered')).slice(1)).toEqual(ids.slice(1));
    });

    it('stores a change of a group it accepted before without reading whether the incident shows it; a repeat of the last is read', async () => {
      const acceptor = new DeliveryAcceptor(pool);
      await acceptor.accept(notification('Seen'), 1000);
      await ingestNextDelivery(pool, config);
      const sent = statements();
      await expect(acceptor.accept(notification('Seen', pods(2)), 1000)).resolves.toMatchObject({
        outcome: 'accepted',
      });
      expect(sent()).toEqual(['deliveries-store']);
      await ingestNextDelivery(pool, config);
      // The same again may be what the incident shows: it is read, and answered without a write.
      await expect(acceptor.accept(notification('Seen', pods(2)), 1000)).resolves.toMatchObject({
        outcome: 'duplicate',
      });
      expect(sent()).toEqual(['deliveries-store', 'deliveries-known']);
      expect(await storedIds('Seen')).toHaveLength(2);
    });

    /** An acceptor remembering what incidents show (as if it heard every change); the group's incident open. */
    const remembering = async (group: string) => {
      const shown = new ShownDigests();
      shown.heard();
      await store(group);
      await ingestNextDelivery(pool, config);
      return { shown, acceptor: new DeliveryAcceptor(pool, { shown }) };
    };

    it('answers a repeat of what the incident shows from memory once it has read it, sending nothing', async () => {
      const { acceptor } = await remembering('Remembered');
      const sent = statements();
      for (let i = 0; i < 3; i++)
        await expect(acceptor.accept(notification('Remembered'), 1000)).resolves.toMatchObject({
          outcome: 'duplicate',
        });
      expect(sent()).toEqual(['deliveries-known']);
      // A change it stores is forgotten at once: what the incident shows until it is ingested is news.
      await acceptor.accept(notification('Remembered', pods(2)), 1000);
      await expect(acceptor.accept(notification('Remembered'), 1000)).resolves.toMatchObject({
        outcome: 'accepted',
      });
    });

    it('reads a remembered repeat behind a delivery of its group still being accepted here: it may follow a change', async () => {
      const { shown, acceptor } = await remembering('Behind');
      await acceptor.accept(notification('Behind'), 1000);
      expect(
        shown.incidentShowing(notification('Behind').groupKey, notification('Behind').digest),
      ).toBeDefined();
      // Other's batch runs; the change waits for the next, and the group's old notification after it.
      const [, change, again] = await acceptAll(acceptor, [
        notification('Other'),
        notification('Behind', pods(2)),
        notification('Behind'),
      ]);
      expect(value(change)).toMatchObject({ outcome: 'accepted' });
      expect(value(again)).toMatchObject({ outcome: 'accepted' });
      expect((await storedIds('Behind')).slice(1)).toEqual([deliveryIdOf(change!), deliveryIdOf(again!)]);
    });

    it('stores a repeat it takes for a change (another replica accepted it), which ingesting finds changes nothing', async () => {
      const here = new DeliveryAcceptor(pool);
      await here.accept(notification('Elsewhere'), 1000);
      await ingestNextDelivery(pool, config);
      // Another replica accepts the change, and it is ingested; then its copy reaches this one.
      await expect(
        new DeliveryAcceptor(pool).accept(notification('Elsewhere', pods(2)), 1000),
      ).resolves.toMatchObject({
        outcome: 'accepted',
      });
      await ingestNextDelivery(pool, config);
      const { rows: before } = await pool.query('SELECT version FROM incidents');
      await expect(here.accept(notification('Elsewhere', pods(2)), 1000)).resolves.toMatchObject({
        outcome: 'accepted',
      });
      expect(await ingestNextDelivery(pool, config)).toMatchObject({ result: { outcome: 'duplicate' } });
      expect((await pool.query('SELECT version FROM incidents')).rows).toEqual(before);
    });

    it('ingests such a repeat as one when its incident was resolved by hand after it came: it reopens nothing', async () => {
      const here = new DeliveryAcceptor(pool);
      await here.accept(notification('ResolvedMeanwhile'), 1000);
      await ingestNextDelivery(pool, config);
      await new DeliveryAcceptor(pool).accept(notification('ResolvedMeanwhile', pods(2)), 1000);
      const ingested = await ingestNextDelivery(pool, config);
      const id = ingested?.outcome === 'ingested' ? ingested.result.incident!.id : 0;
      await here.accept(notification('ResolvedMeanwhile', pods(2)), 1000);
      // Someone resolves it before that copy is ingested; its alerts still fire in Alertmanager.
      await resolveIncident({ pool, config, effects: recordingEffects() }, id, 'Fixed', 'U0ALICE');
      const copy = await ingestNextDelivery(pool, config);
      expect(copy).toMatchObject({ result: { outcome: 'duplicate', incident: { id }, slackBehind: false } });
      // Its record names the incident that showed it.
      expect(await rowOf(copy!.deliveryId)).toMatchObject({ outcome: 'duplicate', incident_id: id });
      const { rows } = await pool.query('SELECT id::int, state FROM incidents');
      expect(rows).toEqual([{ id, state: 'resolved' }]);
      // The same, sent after the resolution, is the group still firing: it reopens the incident.
      await here.accept(notification('ResolvedMeanwhile', pods(2)), 1000);
      expect(await ingestNextDelivery(pool, config)).toMatchObject({ result: { outcome: 'reopened' } });
    });

    it('judges such a repeat behind a resolution of its group by the late-copy window, as after any resolution', async () => {
      const here = new DeliveryAcceptor(pool);
      await here.accept(notification('FiredAgain'), 1000);
      const opened = await ingestNextDelivery(pool, config);
      const id = opened?.outcome === 'ingested' ? opened.result.incident!.id : 0;
      // Alertmanager resolves the alert, then the same notification as the first comes again, both waiting
      // to be ingested, the incident resolved by hand meanwhile. The resolution is stored all the same.
      await here.accept(notification('FiredAgain', [{ instance: 'pod-1', status: 'resolved' }]), 1000);
      await here.accept(notification('FiredAgain'), 1000);
      await resolveIncident({ pool, config, effects: recordingEffects() }, id, 'Fixed', 'U0ALICE');
      expect(await ingestNextDelivery(pool, config)).toMatchObject({ result: { outcome: 'ignored' } });
      // Within the window, a lagging peer's copy; after it, the alert sent anew (Prometheus was cut off from
      // Alertmanager past its endsAt), which reopens the incident.
      expect(await ingestNextDelivery(pool, config)).toMatchObject({ result: { outcome: 'stale' } });
      await pool.query(
        "UPDATE alerts SET resolution_recorded_at = resolution_recorded_at - interval '6 minutes' WHERE incident_id = $1",
        [id],
      );
      await here.accept(notification('FiredAgain'), 1000);
      expect(await ingestNextDelivery(pool, config)).toMatchObject({
        result: { outcome: 'reopened', incident: { id } },
      });
    });

    it('refuses a batch holding two of one group, which one snapshot would judge together, and writes nothing', async () => {
      await store('Twice');
      await ingestNextDelivery(pool, config);
      // A change, then a repeat of what the incident shows: judged together, the repeat would pass for a
      // duplicate while the change before it waits.
      await expect(
        acceptDeliveries(pool, [notification('Twice', pods(2)), notification('Twice')]),
      ).rejects.toThrow('a batch of deliveries holds two of one group');
      expect(await storedIds('Twice')).toHaveLength(1);
    });

    it('refuses only the delivery PostgreSQL will never take, trying its batch one by one', async () => {
      await refuseInserts(pool, 'alert_deliveries', 'Refused', '22023');
      const sent = statements();
      const [first, before, refused, after] = await acceptAll(new DeliveryAcceptor(pool), [
        notification('First'),
        notification('Before'),
        notification('Refused'),
        notification('After'),
      ]);
      expect(value(first)).toMatchObject({ outcome: 'accepted' });
      expect(value(before)).toMatchObject({ outcome: 'accepted' });
      expect(refused).toMatchObject({ status: 'rejected', reason: { code: '22023' } });
      expect((refused as PromiseRejectedResult).reason).toBeInstanceOf(pg.DatabaseError);
      expect(value(after)).toMatchObject({ outcome: 'accepted' });
      expect(await storedIds('Before')).toHaveLength(1);
      expect(await storedIds('Refused')).toEqual([]);
      expect(await storedIds('After')).toHaveLength(1);
      // The first alone, the batch of three (its store failed), then each of the three alone.
      expect(sent()).toEqual(batches(5));
    });

    it('remembers a repeat answered as its batch is tried again one by one', async () => {
      const { shown, acceptor } = await remembering('TriedAlone');
      await refuseInserts(pool, 'alert_deliveries', 'Refused', '22023');
      const repeat = notification('TriedAlone');
      const [, refused, answered] = await acceptAll(acceptor, [
        notification('First'),
        notification('Refused'),
        repeat,
      ]);
      expect(refused).toMatchObject({ status: 'rejected', reason: { code: '22023' } });
      expect(value(answered)).toMatchObject({ outcome: 'duplicate' });
      expect(shown.incidentShowing(repeat.groupKey, repeat.digest)).toBeDefined();
    });

    it('fails a batch whose statement goes unanswered, and those that waited too long behind it', async () => {
      // A connection gone silent (no reset): PostgreSQL never sees the statement, so only the client's
      // query timeout ends it. A statement PostgreSQL holds on a lock is ended by the server's own timeout
      // (test/faults/webhookStatementHeld.test.ts).
      const url = new URL(db.url);
      const proxy = await startTcpProxy(url.hostname, Number(url.port));
      url.host = `127.0.0.1:${proxy.port}`;
      const silent = createPool(url.toString(), 1, { queryTimeoutMs: 1500 });
      const shown = new ShownDigests();
      shown.heard();
      const acceptor = new DeliveryAcceptor(silent, { shown, waitMs: 300 });
      const remembered = notification('Remembered');
      shown.found(shown.readBegins(), remembered.groupKey, remembered.digest, 1);
      try {
        await acceptor.accept(notification('Before'), 1000);
        await new Promise((resolve) => setImmediate(resolve)); // its batch over, so that Stuck goes alone
        proxy.silenceOpen();
        const [stuck, behind, change] = [
          acceptor.accept(notification('Stuck'), 1000),
          acceptor.accept(notification('Behind'), 1000),
          acceptor.accept(notification('Remembered', pods(2)), 1000),
        ];
        await expect(behind).rejects.toBeInstanceOf(AcceptWaitedTooLong);
        await expect(change).rejects.toBeInstanceOf(AcceptWaitedTooLong);
        await expect(stuck).rejects.toThrow('Query read timeout');
        // The change that waited too long is no longer being accepted: a repeat is answered from memory.
        await expect(acceptor.accept(remembered, 1000)).resolves.toEqual({
          outcome: 'duplicate',
          incidentId: 1,
        });
        // The client left without an answer is dropped; the next batch goes on at once, on a new connection.
        await expect(acceptor.accept(notification('Next'), 1000)).resolves.toMatchObject({
          outcome: 'accepted',
        });
        expect(await storedIds('Behind')).toEqual([]);
      } finally {
        await silent.end();
        await proxy.close();
      }
    });
  });
});
