import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import type { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import pg from 'pg';
import { inject } from 'vitest';

/**
 * The servers the global setup chose; outside vitest (`npm run bench -- faults` runs the fault tests'
 * scenarios), those DATABASE_URL and REDIS_URL name, as the bench's own parts do.
 */
function serviceUrl(key: 'databaseUrl' | 'redisUrl'): string {
  if (process.env.VITEST) return inject(key);
  return key === 'databaseUrl'
    ? (process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres')
    : (process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
}

/** A fresh, empty database of its own for one test file, so files run in parallel. Drop it when done. */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = serviceUrl('databaseUrl');
  const name = `ib_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: async () => {
      const client = new pg.Client({ connectionString: adminUrl });
      await client.connect();
      // Let closing pools finish first: terminating a session that is half way through closing
      // surfaces in the test process as an uncaught "terminating connection" error.
      for (let i = 0; i < 100; i++) {
        const { rows } = await client.query(
          'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
          [name],
        );
        if (rows[0].n === 0) break;
        await new Promise((r) => setTimeout(r, 20));
      }
      await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await client.end();
    },
  };
}

export function redisUrl(): string {
  return serviceUrl('redisUrl');
}

/** A Redis key prefix of its own for one test: queues and limits never collide between tests. */
export function uniquePrefix(): string {
  return `ibtest-${randomBytes(5).toString('hex')}`;
}

/** Deletes every key under a prefix. */
export async function clearRedisPrefix(prefix: string): Promise<void> {
  const redis = new Redis(redisUrl());
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await redis.del(...keys);
  } while (cursor !== '0');
  await redis.quit();
}

/** Polls until `check` returns a value other than undefined/false; fails with the last error after `timeoutMs`. */
export async function waitFor<T>(
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 20_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${(lastError as Error).message}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Makes every insert into `table` of a row whose group_key holds `group` fail with `sqlstate` and `message`
 * (a trigger, refuse_group), as a database refusing it would; `DROP TRIGGER refuse_group ON <table>` ends it.
 */
export async function refuseInserts(
  pool: pg.Pool,
  table: 'incidents' | 'alert_deliveries',
  group: string,
  sqlstate: string,
  message = 'refused by the test',
): Promise<void> {
  await pool.query(`CREATE OR REPLACE FUNCTION refuse_group() RETURNS trigger LANGUAGE plpgsql AS $fn$
    BEGIN
      IF NEW.group_key LIKE ${pg.escapeLiteral(`%${group}%`)} THEN
        RAISE EXCEPTION '%', ${pg.escapeLiteral(message)} USING ERRCODE = ${pg.escapeLiteral(sqlstate)};
      END IF;
      RETURN NEW;
    END $fn$`);
  await pool.query(
    `CREATE TRIGGER refuse_group BEFORE INSERT ON ${table} FOR EACH ROW EXECUTE FUNCTION refuse_group()`,
  );
}

/** Resolves once at least `sessions` sessions of `pool`'s database wait for a lock (a row another holds). */
export async function waitForLockWaiters(pool: pg.Pool, sessions: number, what: string): Promise<void> {
  await waitFor(
    async () =>
      (
        await pool.query(
          "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'",
        )
      ).rows.length >= sessions,
    10_000,
    what,
  );
}

/**
 * Resolves once a queue has nothing waiting, delayed or running, but for job schedulers' next runs and
 * jobs named in `ignore` (an action request's expiry, say, delayed until its window closes).
 */
export async function waitForQueueIdle(
  queue: Queue,
  timeoutMs = 20_000,
  ignore: readonly string[] = [],
): Promise<void> {
  await waitFor(
    async () => {
      const jobs = await queue.getJobs(['waiting', 'active', 'delayed', 'prioritized']);
      // A job scheduler's next run (reconcile, sweep) is always there: it never counts as work left.
      return jobs.every((job) => !job || job.repeatJobKey !== undefined || ignore.includes(job.name));
    },
    timeoutMs,
    'the queue to drain',
  );
}

/**
 * Makes a test database refuse every connection, superusers' too, and drops the ones it has: to the bot
 * it looks like a database server that went away. `true` lets connections in again.
 */
export async function setDatabaseReachable(databaseUrl: string, reachable: boolean): Promise<void> {
  const name = new URL(databaseUrl).pathname.slice(1);
  const admin = new pg.Client({ connectionString: serviceUrl('databaseUrl') });
  await admin.connect();
  try {
    await admin.query(`ALTER DATABASE ${name} ALLOW_CONNECTIONS ${reachable}`);
    if (!reachable)
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1', [name]);
  } finally {
    await admin.end();
  }
}

/** A loopback port where nothing listens: taken from the system, then let go. */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}
