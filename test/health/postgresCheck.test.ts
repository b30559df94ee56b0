import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CheckResult, runCheck, runChecks } from '../../src/health/checks.js';
import { createTestDatabase, type TestDatabase, waitFor } from '../support/services.js';
import { check, closedPort, silentServer } from './support.js';

let db: TestDatabase;
let admin: pg.Pool;
let env: Record<string, string>;

beforeAll(async () => {
  db = await createTestDatabase();
  admin = new pg.Pool({ connectionString: db.url, max: 4 });
  await admin.query(`
    CREATE TABLE schema_migrations (filename text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now());
    INSERT INTO schema_migrations VALUES ('001_init.sql', now() - interval '1 day');
    -- One run of the migrator: both files get the same applied_at.
    INSERT INTO schema_migrations (filename) VALUES ('002_roles.sql'), ('003_event_types.sql');
    CREATE TABLE empty_migrations (filename text, applied_at timestamptz);
    CREATE TABLE legacy_versions (version text);
    INSERT INTO legacy_versions VALUES ('20240101'), ('20240301'), ('20240201');
    CREATE TABLE event_types (id int);
    CREATE TABLE roles (id int);
    CREATE TABLE locked_things (id int);
    CREATE SCHEMA audit;
    CREATE TABLE audit.events (id int);
  `);
  env = { PAYMENTS_DATABASE_URL: db.url };
});

afterAll(async () => {
  await admin.end();
  await db.drop();
});

const pgCheck = (extra: Record<string, unknown> = {}) =>
  check({ kind: 'postgres', name: 'payments-db', connectionEnv: 'PAYMENTS_DATABASE_URL', ...extra });

const fact = (result: CheckResult, label: string) => result.facts.find((f) => f.label === label)?.value;

describe('postgres', () => {
  it('passes on a healthy database and reports head, tables, locks and connections', async () => {
    const result = await runCheck(
      pgCheck({
        expectedHead: '003_event_types.sql',
        requiredTables: ['event_types', 'roles', 'audit.events'],
      }),
      { env },
    );
    expect(result).toMatchObject({ name: 'payments-db', kind: 'postgres', status: 'ok' });
    expect(result.detail).toMatch(
      /^SELECT 1 ok; migration head 003_event_types\.sql; 3 required tables present; \d+ of \d+ connections$/,
    );
    const url = new URL(db.url);
    expect(result.facts.map((f) => f.label)).toEqual([
      'target',
      'connections',
      'ungranted locks',
      'required tables',
      'migration head',
      'recent migrations',
    ]);
    expect(fact(result, 'target')).toBe(`${url.hostname}:${url.port || 5432}${url.pathname}`);
    expect(fact(result, 'ungranted locks')).toBe('0');
    expect(fact(result, 'required tables')).toBe('3 of 3 present');
    expect(fact(result, 'migration head')).toMatch(/^003_event_types\.sql \(applied \d{4}-\d\d-\d\dT/);
    expect(fact(result, 'recent migrations')).toBe('003_event_types.sql, 002_roles.sql, 001_init.sql');
    expect(fact(result, 'connections')).toMatch(/^\d+ of \d+ \([\d.]+%\)$/);
  });

  it('fails when the newest migration is not the expected head', async () => {
    const result = await runCheck(pgCheck({ expectedHead: '004_approvals.sql' }), { env });
    expect(result).toMatchObject({
      status: 'fail',
      detail: 'expected migration head 004_approvals.sql, got 003_event_types.sql',
    });
  });

  it('orders by the migrations column when the table has no applied_at', async () => {
    const result = await runCheck(
      pgCheck({ migrationsTable: 'legacy_versions', migrationsColumn: 'version', expectedHead: '20240301' }),
      { env },
    );
    expect(result.status).toBe('ok');
    expect(fact(result, 'migration head')).toBe('20240301');
    expect(fact(result, 'recent migrations')).toBe('20240301, 20240201, 20240101');
  });

  it('fails on a missing migrations table or column', async () => {
    expect(await runCheck(pgCheck({ migrationsTable: 'audit.schema_migrations' }), { env })).toMatchObject({
      status: 'fail',
      detail: 'migrations table audit.schema_migrations missing',
    });
    expect(await runCheck(pgCheck({ migrationsColumn: 'name' }), { env })).toMatchObject({
      status: 'fail',
      detail: 'column name missing from schema_migrations',
    });
  });

  it('warns about an empty migrations table, and fails when a head is expected', async () => {
    expect(await runCheck(pgCheck({ migrationsTable: 'empty_migrations' }), { env })).toMatchObject({
      status: 'warn',
      detail: 'no migrations applied in empty_migrations',
    });
    expect(
      await runCheck(pgCheck({ migrationsTable: 'empty_migrations', expectedHead: '001_init.sql' }), { env }),
    ).toMatchObject({ status: 'fail', detail: 'no migrations applied, expected head 001_init.sql' });
  });

  it('reports a locked migrations table after lock_timeout instead of waiting out the whole check', async () => {
    const holder = await admin.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE schema_migrations IN ACCESS EXCLUSIVE MODE');
      // lock_timeout is half the check's timeout: 500 ms here.
      const result = await runCheck(pgCheck({ timeout: '1s' }), { env });
      expect(result).toMatchObject({
        status: 'warn',
        detail: 'migrations table schema_migrations is locked by another session, head not read',
      });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
  });

  it('fails on a missing required table, naming it, and still reports the rest', async () => {
    const result = await runCheck(pgCheck({ requiredTables: ['event_types', 'approval_records', 'roles'] }), {
      env,
    });
    expect(result).toMatchObject({ status: 'fail', detail: 'table approval_records missing' });
    expect(fact(result, 'required tables')).toBe('2 of 3 present');
    expect(fact(result, 'migration head')).toMatch(/^003_event_types\.sql/);
    // A table in another schema is not the one asked for.
    expect(await runCheck(pgCheck({ requiredTables: ['events', 'audit.roles'] }), { env })).toMatchObject({
      status: 'fail',
      detail: 'tables events, audit.roles missing',
    });
  });

  it('warns about a session waiting on a lock, naming it and its blocker', async () => {
    const holder = await admin.connect();
    const waiter = await admin.connect();
    try {
      const holderPid: number = (await holder.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      const waiterPid: number = (await waiter.query('SELECT pg_backend_pid() AS pid')).rows[0].pid;
      await holder.query('BEGIN');
      await holder.query('LOCK TABLE locked_things IN ACCESS EXCLUSIVE MODE');
      const waiting = waiter.query('SELECT * FROM locked_things');
      await waitFor(
        async () =>
          (await admin.query('SELECT 1 FROM pg_locks WHERE pid = $1 AND NOT granted', [waiterPid]))
            .rowCount === 1,
        10_000,
        'the second session to wait on the lock',
      );

      const result = await runCheck(pgCheck({ expectedHead: '003_event_types.sql' }), { env });
      expect(result).toMatchObject({
        status: 'warn',
        detail: `1 ungranted lock: pid ${waiterPid} waits for AccessShareLock on locked_things (blocked by pid ${holderPid})`,
      });
      expect(fact(result, 'ungranted locks')).toBe('1');

      await holder.query('COMMIT');
      await waiting;
    } finally {
      holder.release();
      waiter.release();
    }
    expect((await runCheck(pgCheck(), { env })).status).toBe('ok');
  });

  it('warns when connections in use reach connectionsWarnAt', async () => {
    const result = await runCheck(pgCheck({ connectionsWarnAt: 0.0001 }), { env });
    expect(result.status).toBe('warn');
    expect(result.detail).toMatch(/^\d+ of \d+ connections in use \([\d.]+%\), warn at 0\.01%$/);
  });

  it('runChecks gives the worst status of all', async () => {
    const health = await runChecks([pgCheck(), pgCheck({ name: 'busy', connectionsWarnAt: 0.0001 })], {
      env,
    });
    expect(health.status).toBe('warn');
    expect(health.results.map((r) => r.status)).toEqual(['ok', 'warn']);
  });

  it('closes its connection when done', async () => {
    await runCheck(pgCheck(), { env });
    await waitFor(
      async () =>
        (
          await admin.query(
            "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'incident-bot-health'",
          )
        ).rowCount === 0,
      10_000,
      'the check session to end',
    );
  });

  it('fails when the env var is not set', async () => {
    expect(await runCheck(pgCheck(), { env: {} })).toMatchObject({
      status: 'fail',
      detail: 'env var PAYMENTS_DATABASE_URL is not set',
      facts: [],
    });
  });

  it('fails on an unreachable server without showing the password', async () => {
    const port = await closedPort();
    const secretEnv = {
      PAYMENTS_DATABASE_URL: `postgres://payments:Hunter2-s3cret@127.0.0.1:${port}/payments`,
    };
    const result = await runCheck(pgCheck(), { env: secretEnv });
    expect(result).toMatchObject({
      status: 'fail',
      detail: `connect ECONNREFUSED 127.0.0.1:${port}`,
      facts: [{ label: 'target', value: `127.0.0.1:${port}/payments` }],
    });
    expect(JSON.stringify(result)).not.toContain('Hunter2-s3cret');
  });

  it('fails on a connection string it cannot parse without showing the password', async () => {
    const secretEnv = { PAYMENTS_DATABASE_URL: 'postgres://payments:Hunter2-s3cret@db:port/payments' };
    const result = await runCheck(pgCheck(), { env: secretEnv });
    expect(result.status).toBe('fail');
    expect(JSON.stringify(result)).not.toContain('Hunter2-s3cret');
  });

  it('fails with a timeout on a server that never answers, and drops the connection', async () => {
    const silent = await silentServer();
    try {
      const silentEnv = { PAYMENTS_DATABASE_URL: `postgres://payments@127.0.0.1:${silent.port}/payments` };
      const result = await runCheck({ ...pgCheck(), timeout: 200 }, { env: silentEnv });
      expect(result).toMatchObject({ status: 'fail', detail: 'timed out after 200 ms' });
      await waitFor(async () => (await silent.connections()) === 0, 5000, 'the connection to be dropped');
    } finally {
      await silent.close();
    }
  });
});
