import type pg from 'pg';
import { afterEach } from 'vitest';
import { type Hearer, hearChanges } from '../../src/db/changes.js';
import { recordingLogger } from './logLines.js';
import { waitFor } from './services.js';

/**
 * What each `work` given to the function it returns wrote to `changes` on `channel` (migration 041): the
 * payloads, in the order written, those alike within a transaction once (a read of hearChanges' folds
 * those alike that it finds).
 */
export function notificationsOn(
  pool: () => pg.Pool,
  channel: string,
): (work: () => Promise<unknown>) => Promise<string[]> {
  return async (work) => {
    // Every transaction of the work begins after this one, and so has a greater id.
    const { rows: before } = await pool().query<{ xid: string }>('SELECT pg_current_xact_id()::text AS xid');
    await work();
    const { rows } = await pool().query<{ payload: string }>(
      `SELECT payload FROM (SELECT DISTINCT ON (xid, payload) xid, payload, ctid FROM changes
                             WHERE channel = $1 AND xid > $2::xid8 ORDER BY xid, payload, ctid) told
        ORDER BY xid, ctid`,
      [channel, before[0]!.xid],
    );
    return rows.map((row) => row.payload);
  };
}

/**
 * hearChanges on `pool`'s database for a test: `start(...hearers)` hears for them, `stop()` ends it, and
 * it is ended after each test. Once `caughtUp()` resolves, every change committed before it was called has
 * been told.
 */
export function lineUnderTest(pool: () => pg.Pool): {
  start(...hearers: Hearer[]): void;
  stop(): Promise<void>;
  caughtUp(): Promise<void>;
} {
  let line: { stop(): Promise<void> } | undefined;
  const marker = lineMarker(pool);
  const stop = async () => {
    await line?.stop();
    line = undefined;
  };
  afterEach(stop);
  return {
    start: (...hearers) => {
      line = hearChanges({
        connectionString: pool().options.connectionString!,
        hearers: [...hearers, marker.hearer],
        logger: recordingLogger('info').logger,
      });
    },
    stop,
    caughtUp: marker.caughtUp,
  };
}

/** A hearer beside those tested, on a channel of its own: see lineUnderTest's `caughtUp`. */
function lineMarker(pool: () => pg.Pool): { hearer: Hearer; caughtUp(): Promise<void> } {
  const markers: string[] = [];
  return {
    hearer: {
      channel: 'test_marker',
      told: (payload) => markers.push(payload),
      heard: () => {},
      lost: () => {},
      whileHeard: 'markers are heard',
      whileUnheard: 'markers are not',
    },
    async caughtUp() {
      const sent = `marker ${markers.length}`;
      // Committed after every change before it: a read that finds it has found them.
      await pool().query("SELECT tell_change('test_marker', $1)", [sent]);
      await waitFor(() => markers.includes(sent), 5000, 'the marker');
    },
  };
}

/** A statement on `pool`, as work for notificationsOn's function to run. */
export const statementOn =
  (pool: () => pg.Pool) =>
  (text: string, values: unknown[] = []) =>
  () =>
    pool().query(text, values);

/** `user` named to `role` of the incident, or moved to it, as /incident assign does: work for notificationsOn. */
export const roleAssigned = (pool: () => pg.Pool) => (incidentId: number, role: string, user: string) =>
  statementOn(pool)(
    `INSERT INTO incident_roles (incident_id, role, user_id, assigned_by) VALUES ($1, $2, $3, 'U0BOB')
       ON CONFLICT (incident_id, role) DO UPDATE SET user_id = EXCLUDED.user_id`,
    [incidentId, role, user],
  );
