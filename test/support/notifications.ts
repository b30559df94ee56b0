import pg from 'pg';
import { afterEach, beforeEach } from 'vitest';
import { type Hearer, hearChanges } from '../../src/db/changeNotifications.js';
import { recordingLogger } from './logLines.js';
import { waitFor } from './services.js';

/**
 * A session of its own LISTENing on `channel` through each test. What it returns runs `work` and gives the
 * payloads it told of, as sent: those ahead of a marker sent once `work` is done (they come in commit order).
 */
export function notificationsOn(
  pool: () => pg.Pool,
  channel: string,
): (work: () => Promise<unknown>) => Promise<string[]> {
  const marker = '"(marker of the test)"';
  let listener: pg.Client;
  let payloads: string[] = [];
  beforeEach(async () => {
    listener = new pg.Client({ connectionString: pool().options.connectionString });
    listener.on('notification', (message) => payloads.push(message.payload ?? ''));
    await listener.connect();
    await listener.query(`LISTEN ${channel}`);
  });
  afterEach(() => listener.end());
  return async (work) => {
    await listener.query('SELECT 1'); // what came before the work is in
    payloads = [];
    await work();
    await pool().query('SELECT pg_notify($1, $2)', [channel, marker]);
    await waitFor(() => payloads.includes(marker), 5000, 'the marker');
    return payloads.filter((p) => p !== marker);
  };
}

/**
 * The line (hearChanges) on `pool` for a test: `start(...hearers)` listens for them, `stop()` ends it, and
 * it is ended after each test. Once `caughtUp()` resolves, every change committed before it was called has
 * been told on the line (notifications come in commit order).
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
        probes: pool(),
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
      told: (payload) => markers.push(payload ?? ''),
      heard: () => {},
      lost: () => {},
      whileHeard: 'markers are heard',
      whileUnheard: 'markers are not',
    },
    async caughtUp() {
      const sent = `marker ${markers.length}`;
      await pool().query("SELECT pg_notify('test_marker', $1)", [sent]);
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
