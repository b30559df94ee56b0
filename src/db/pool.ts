import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/** Connection errors fail fast so that a request handler can answer 503 instead of hanging. */
export function createPool(connectionString: string, max = 10): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max,
    connectionTimeoutMillis: 3000,
    idleTimeoutMillis: 30_000,
    application_name: 'incident-bot',
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => {});
  return pool;
}

/** Runs `work` in one transaction on one client: all of it commits, or none of it. */
export async function inTransaction<T>(
  pool: pg.Pool,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

const TRANSIENT_SQLSTATE_CLASSES = ['08', '53', '57']; // connection, resources, operator intervention
const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** True when the database is unreachable or restarting: the caller should retry later, not give up. */
export function isTransientDbError(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (typeof e.code === 'string') {
    if (TRANSIENT_NODE_CODES.has(e.code)) return true;
    if (e.code.length === 5 && TRANSIENT_SQLSTATE_CLASSES.includes(e.code.slice(0, 2))) return true;
    if (e.code === '40001' || e.code === '40P01') return true; // serialization failure, deadlock
  }
  // "not currently accepting connections" is SQLSTATE 55000, a class that holds lasting errors too.
  return /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|not currently accepting connections/i.test(
    e.message ?? '',
  );
}
