import pg from 'pg';
import { afterEach, beforeEach } from 'vitest';
import type { Hearer } from '../../src/db/changeNotifications.js';
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
 * A hearer for the line under test, beside those tested: once `caughtUp()` resolves, every change committed
 * before it was called has been told on the line (notifications come in commit order).
 */
export function lineMarker(pool: () => pg.Pool): { hearer: Hearer; caughtUp(): Promise<void> } {
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
