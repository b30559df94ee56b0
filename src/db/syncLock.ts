import type pg from 'pg';
import { discardClient } from './pool.js';

/**
 * The longest a Slack sync's query may go unanswered (the sync pool's query timeout): its queries are
 * short, so one this slow is on a dead connection. The sync fails, retries, and its lock goes with the
 * connection it gives up.
 */
export const SYNC_QUERY_TIMEOUT_MS = 10_000;

/** Another worker is syncing this to Slack right now; try again shortly. */
export class SyncBusyError extends Error {
  readonly code = 'SYNC_BUSY';
  constructor(readonly subject: string) {
    super(`${subject} is being synced by another worker`);
    this.name = 'SyncBusyError';
  }
}

/**
 * Runs `work` on a client of its own while holding the advisory lock (`space`, `id`): one syncer per
 * thing, across every worker host; the lock dies with the session if the process does. SyncBusyError,
 * without waiting, when another session holds it.
 */
export async function withSyncLock<T>(
  pool: pg.Pool,
  space: string,
  id: number,
  subject: string,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  let locked = false;
  try {
    const lock = await client.query<{ locked: boolean }>({
      name: 'sync-lock',
      text: 'SELECT pg_try_advisory_lock(hashtext($1), $2::int) AS locked',
      values: [space, id],
    });
    locked = lock.rows[0]!.locked;
    if (!locked) throw new SyncBusyError(subject);
    return await work(client);
  } finally {
    // A client whose lock could not be released is closed, not pooled, and its session ended: it would
    // keep the lock.
    const unlocked =
      !locked ||
      (await client
        .query({
          name: 'sync-unlock',
          text: 'SELECT pg_advisory_unlock(hashtext($1), $2::int)',
          values: [space, id],
        })
        .then(
          () => true,
          () => false,
        ));
    if (unlocked) client.release();
    else await discardClient(pool, client);
  }
}
