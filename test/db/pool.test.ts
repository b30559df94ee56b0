import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptDeliveries, deliveryOf } from '../../src/alerts/deliveries.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { migrate } from '../../src/db/migrate.js';
import {
  CONNECTION_TIMEOUT_MS,
  clientsInTurn,
  createPool,
  inTransaction,
  isDatabaseUnreachable,
  isTransientDbError,
  PoolBusyError,
  statementName,
  withClientWait,
} from '../../src/db/pool.js';
import { payload } from '../support/alertmanager.js';
import { createTestDatabase, type TestDatabase, waitFor } from '../support/services.js';
import { type ProxiedDatabase, proxiedDatabase } from '../support/tcpProxy.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * A caller waiting for a client of a full pool: while clients come back, it is the bot that is busy, and
 * a caller allowed to wait longer than CONNECTION_TIMEOUT_MS does; when none comes back in that time, it
 * is the database that is not answering, however long the caller could wait.
 */
describe('createPool: a busy pool, not a database that is down', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  /** The pool's one client held; after 300 ms it comes back, to a caller queued before, who keeps it 1.5 s. */
  const keepBusy = async (pool: pg.Pool) => {
    const held = await pool.connect();
    const before = pool.connect().then(async (client) => {
      await sleep(1500);
      client.release();
    });
    setTimeout(() => held.release(), 300);
    return { over: before };
  };

  it('tells a caller that cannot wait longer the pool is busy, and lets one that can wait', async () => {
    const pool = createPool(db.url, 1);
    try {
      const busy = await keepBusy(pool);
      const err = await pool.connect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PoolBusyError);
      expect(isTransientDbError(err)).toBe(true);
      expect(isDatabaseUnreachable(err)).toBe(false);
      await busy.over;

      const again = await keepBusy(pool);
      const client = await withClientWait({ ms: 10_000 }, () => pool.connect());
      expect((await client.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
      client.release();
      await again.over;
    } finally {
      await pool.end();
    }
  });

  it('tells even a caller that could wait longer that the database is not answering, once no client comes back', async () => {
    const pool = createPool(db.url, 1);
    try {
      const held = await pool.connect();
      const started = Date.now();
      const err = await withClientWait({ ms: 10_000 }, () => pool.connect()).catch((e: unknown) => e);
      expect(err).not.toBeInstanceOf(PoolBusyError);
      expect(isDatabaseUnreachable(err)).toBe(true);
      expect(Date.now() - started).toBeLessThan(CONNECTION_TIMEOUT_MS * 2);
      held.release();
    } finally {
      await pool.end();
    }
  });
});

/**
 * A pool's clients taken in turn (the silences' pool): waiting for a busy client is not a database that
 * is down, and a database that is down is still found out fast.
 */
describe('clientsInTurn', () => {
  let db: ProxiedDatabase;
  beforeAll(async () => {
    db = await proxiedDatabase();
  });
  afterAll(() => db.close());

  it('lets a caller behind busy clients wait past the connection timeout, up to its own wait', async () => {
    const pool = createPool(db.proxiedUrl, 2);
    try {
      const turns = clientsInTurn(pool, 10_000);
      const busy = await Promise.all([turns.connect(), turns.connect()]);
      const waiting = turns.connect();
      await new Promise((r) => setTimeout(r, CONNECTION_TIMEOUT_MS * 1.5));
      busy[0]!.release();
      // pg-pool alone gives up on it after CONNECTION_TIMEOUT_MS, as if the database were down.
      const client = await waiting;
      expect((await client.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
      client.release();
      busy[1]!.release();

      const impatient = clientsInTurn(pool, 200);
      const both = await Promise.all([impatient.connect(), impatient.connect()]);
      const err = await impatient.connect().catch((e: unknown) => e);
      expect(err).toBeInstanceOf(PoolBusyError);
      expect((err as Error).message).toBe('all 2 clients of the pool stayed busy for 200 ms');
      for (const c of both) c.release();
    } finally {
      await pool.end();
    }
  });

  it('fails every caller waiting once a connection cannot be opened: the database is not answering', async () => {
    const pool = createPool(db.proxiedUrl, 2);
    const turns = clientsInTurn(pool, 30_000);
    try {
      // New connections get no answer: each attempt gives up after CONNECTION_TIMEOUT_MS.
      db.proxy.silence();
      const started = Date.now();
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => turns.connect()));
      const elapsed = Date.now() - started;
      expect(outcomes.every((o) => o.status === 'rejected' && isDatabaseUnreachable(o.reason))).toBe(true);
      // Not one attempt after another, 2 at a time: the last would hear it after 5 timeouts.
      expect(elapsed).toBeLessThan(CONNECTION_TIMEOUT_MS * 2);
    } finally {
      db.proxy.restore();
      await pool.end();
    }
  });
});

/**
 * A connection gone silent under a query (a NAT that forgot the flow; the server still there): the query
 * fails at the pool's read timeout, and the client goes with its connection, its session and the locks
 * that session held, rather than go back to the pool with the statement still waiting on it.
 */
describe.each([
  { over: 'TCP', unixSocket: false },
  { over: 'a Unix socket', unixSocket: true },
])('createPool: a connection gone silent under a query, over $over', ({ unixSocket }) => {
  let db: ProxiedDatabase;
  beforeAll(async () => {
    db = await proxiedDatabase({ unixSocket });
    await db.direct.query('CREATE TABLE held (id int PRIMARY KEY); INSERT INTO held VALUES (1)');
  });
  afterAll(() => db.close());

  it('gives up the client, its session and its locks, and the pool goes on with new connections', async () => {
    const pool = createPool(db.proxiedUrl, 1, { queryTimeoutMs: 1000 });
    try {
      let locked!: () => void;
      const holding = new Promise<void>((resolve) => {
        locked = resolve;
      });
      const transaction = inTransaction(pool, async (client) => {
        await client.query('SELECT 1 FROM held WHERE id = $1 FOR UPDATE', [1]);
        locked();
        await new Promise((resolve) => setTimeout(resolve, 200));
        // The path dies under this query.
        await client.query('SELECT 1');
      });
      await holding;
      db.proxy.silenceOpen();
      const err = await transaction.catch((e: unknown) => e);
      expect((err as Error).message).toBe('Query read timeout');
      expect(isTransientDbError(err)).toBe(true);
      // The pool's one client is not the silent one: a new connection answers.
      expect((await pool.query('SELECT 2 AS ok')).rows[0].ok).toBe(2);
      // The row lock went with the session: the row can be locked at once.
      const locks = "SELECT 1 FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'held'";
      await waitFor(
        async () => (await db.direct.query(locks)).rowCount === 0,
        5000,
        "the silent session's locks gone",
      );
      const locker = await db.direct.connect();
      try {
        await locker.query('BEGIN');
        await locker.query("SET LOCAL lock_timeout = '100ms'");
        await locker.query('SELECT 1 FROM held WHERE id = 1 FOR UPDATE');
        await locker.query('ROLLBACK');
      } finally {
        locker.release();
      }
    } finally {
      await pool.end();
    }
  });

  it('discards a client released right after its query went unanswered, rather than hand it out again', async () => {
    const pool = createPool(db.proxiedUrl, 1, { queryTimeoutMs: 300 });
    try {
      const client = await pool.connect();
      await client.query('SELECT 1');
      db.proxy.silenceOpen();
      // Another caller waits for the pool's one client, and gets it as soon as it is released: released
      // as soon as its caller hears, with nothing else done on it in between.
      const unanswered = client.query('SELECT 1');
      // (A read timeout under the connection timeout: it waits no longer than that for the client.)
      const next = pool.connect();
      const err = await unanswered.catch((e: unknown) => {
        client.release();
        return e;
      });
      expect((err as Error).message).toBe('Query read timeout');
      const other = await next;
      try {
        expect((await other.query('SELECT 4 AS ok')).rows[0].ok).toBe(4);
      } finally {
        other.release();
      }
    } finally {
      await pool.end();
    }
  });

  it('gives up a client whose statement went unanswered outside a transaction too', async () => {
    const pool = createPool(db.proxiedUrl, 1, { queryTimeoutMs: 1000 });
    try {
      const { rows } = await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      db.proxy.silenceOpen();
      await expect(pool.query('SELECT 1')).rejects.toThrow('Query read timeout');
      await waitFor(
        async () =>
          (await db.direct.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [rows[0]!.pid]))
            .rowCount === 0,
        5000,
        'the silent session ended',
      );
      expect((await pool.query('SELECT 3 AS ok')).rows[0].ok).toBe(3);
    } finally {
      await pool.end();
    }
  });
});

/**
 * A prepared statement's plan, on a pool's connection: one made while a table was small (a quiet spell,
 * a fresh connection) must not outlive it once a storm fills the table.
 */
describe('createPool: plans made for the table as it is', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
    const pool = createPool(db.url, 1);
    await migrate(pool).finally(() => pool.end());
  });
  afterAll(() => db.drop());

  it('plans each execution of a prepared statement for its parameters and the table as it now is', async () => {
    const pool = createPool(db.url, 1);
    try {
      // The webhook's statement, prepared and run on this one connection while the table is small,
      for (let i = 0; i < 10; i++)
        await acceptDeliveries(pool, [
          deliveryOf(
            WebhookPayloadSchema.parse(payload({ group: `Small${i}`, alerts: [{ instance: 'a' }] })),
          ),
        ]);
      // then a storm's open incidents and its deliveries, before autovacuum's ANALYZE (which would drop
      // the plans made so far).
      await pool.query(
        `INSERT INTO incidents (title, severity, group_key, channel_id)
         SELECT 'Storm', 'P2', 'group-' || n, 'C0STORM' FROM generate_series(1, 20000) n`,
      );
      await pool.query(
        `INSERT INTO alert_deliveries (group_key, payload, processed_at, outcome)
         SELECT 'group-' || (n % 20000), NULL, now(), 'updated' FROM generate_series(1, 100000) n`,
      );
      // A full batch of them.
      const groups = Array.from({ length: 64 }, (_, n) => `"group-${n + 1}"`).join(',');
      const { rows } = await pool.query(
        `EXPLAIN EXECUTE "deliveries-known" ('{${groups}}', array_fill('digest'::text, ARRAY[64]))`,
      );
      const plan = rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      // The group's open incident by the unique index on open groups, not by scanning every open one.
      expect(plan).toMatch(/incidents_open_group_key/);
      expect(plan).not.toMatch(/Seq Scan/);
    } finally {
      await pool.end();
    }
  });

  it("keeps a statement's plan on a pool that keeps them, until its connection has been open that long", async () => {
    const pool = createPool(db.url, 1, { plansKeptForSeconds: 3 });
    const byKey = { name: 'incident-by-key', text: 'SELECT id FROM incidents WHERE id = $1', values: [1] };
    const planOf = async () => {
      const { rows } = await pool.query('EXPLAIN EXECUTE "incident-by-key" (1)');
      return rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
    };
    const session = async () => (await pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
    try {
      // PostgreSQL keeps a generic plan after five executions planned for their parameters.
      for (let i = 0; i < 6; i++) await pool.query(byKey);
      const first = await session();
      // A generic plan names the parameter, not the value it was run with.
      expect(await planOf()).toMatch(/id = \$1/);
      // Idle, the connection is closed once it has been open 3 s; the next query opens another, on
      // which the statement is prepared again and planned for its value.
      let next = first;
      for (let waited = 0; next === first && waited < 15_000; waited += 200) {
        await sleep(200);
        next = await session();
      }
      expect(next).not.toBe(first);
      await pool.query(byKey);
      expect(await planOf()).toMatch(/id = '1'::bigint/);
    } finally {
      await pool.end();
    }
  });
});

/** PostgreSQL parses a named statement once per connection; an unnamed one at every execution. */
describe('createPool: statements with values sent named, after their text', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('prepares each once per connection under a name of its text, keeps a name given, and sends the rest as they are', async () => {
    const pool = createPool(db.url, 1);
    try {
      const text = 'SELECT $1::int + 1 AS n';
      expect((await pool.query(text, [1])).rows).toEqual([{ n: 2 }]);
      expect((await pool.query({ text, values: [2] })).rows).toEqual([{ n: 3 }]);
      const client = await pool.connect();
      try {
        expect((await client.query(text, [3])).rows).toEqual([{ n: 4 }]);
        // One PostgreSQL refuses is not taken as prepared: sent again, it is refused again, for itself.
        await expect(client.query('SELEC $1::int', [1])).rejects.toThrow(/syntax error/);
        await expect(client.query('SELEC $1::int', [1])).rejects.toThrow(/syntax error/);
      } finally {
        client.release();
      }
      await pool.query({ name: 'given', text: 'SELECT $1::text AS t', values: ['x'] });
      // Without values: several statements in one, which no name can hold.
      await pool.query('SELECT 1 AS one; SELECT 2 AS two');
      const { rows } = await pool.query('SELECT name, statement FROM pg_prepared_statements ORDER BY name');
      expect(rows).toEqual([
        { name: 'given', statement: 'SELECT $1::text AS t' },
        { name: statementName(text), statement: text },
      ]);
      // The same in every process, and another for another text.
      expect(statementName(text)).toBe('h:KkdAJVfrsLLkr_DBaxQlPsxK3p50weSV');
      expect(statementName('SELECT $1::int + 2 AS n')).not.toBe(statementName(text));
    } finally {
      await pool.end();
    }
  });
});
