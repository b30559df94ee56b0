import type pg from 'pg';

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
    const lock = await client.query<{ locked: boolean }>(
      'SELECT pg_try_advisory_lock(hashtext($1), $2::int) AS locked',
      [space, id],
    );
    locked = lock.rows[0]!.locked;
    if (!locked) throw new SyncBusyError(subject);
    return await work(client);
  } finally {
    // A client whose lock could not be released is closed, not pooled: its session would keep the lock.
    const unlocked =
      !locked ||
      (await client.query('SELECT pg_advisory_unlock(hashtext($1), $2::int)', [space, id]).then(
        () => true,
        () => false,
      ));
    client.release(!unlocked);
  }
}
