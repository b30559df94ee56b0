import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { type AddressInfo, createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DriverRun } from '../../../src/actions/drivers/driver.js';
import { createDriver, placeholdersOf } from '../../../src/actions/drivers/index.js';
import { SqlSettingsSchema } from '../../../src/actions/drivers/sql.js';
import { compileStatement } from '../../../src/actions/drivers/sqlText.js';
import { createTestDatabase, type TestDatabase, waitFor } from '../../support/services.js';

const MIGRATION = '048_create_event_bus_tables.sql';
const MIGRATION_FILE = join(import.meta.dirname, '../../fixtures/migrations', MIGRATION);
const EVENT_TABLES = ['public.event_store', 'public.event_subscriptions', 'public.event_types'];

// The runbook's manual roll-back of migration 048, as an action.
const ROLLBACK = {
  type: 'sql',
  connectionEnv: 'TARGET_DATABASE_URL',
  statements: [
    'DROP TABLE IF EXISTS event_store CASCADE',
    'DROP TABLE IF EXISTS event_subscriptions CASCADE',
    'DROP TABLE IF EXISTS event_types CASCADE',
    'DELETE FROM schema_migrations WHERE filename = {{migration}}',
  ],
};
const APPLY = { type: 'sql', connectionEnv: 'TARGET_DATABASE_URL', file: MIGRATION_FILE };

let db: TestDatabase;
let target: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  target = new pg.Pool({ connectionString: db.url, max: 2 });
});
afterAll(async () => {
  await target.end();
  await db.drop();
});
beforeEach(async () => {
  await target.query(`DROP SCHEMA public CASCADE; CREATE SCHEMA public;
    CREATE TABLE schema_migrations (filename text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`);
});

function sqlDriver(settings: Record<string, unknown>) {
  return createDriver(SqlSettingsSchema.parse(settings));
}

function statementsDriver(statements: string[], settings: Record<string, unknown> = {}) {
  return sqlDriver({ type: 'sql', connectionEnv: 'TARGET_DATABASE_URL', statements, ...settings });
}

function runOf(overrides: Partial<DriverRun> = {}): DriverRun {
  return {
    params: {},
    dryRun: false,
    timeoutMs: 20_000,
    signal: new AbortController().signal,
    env: { TARGET_DATABASE_URL: db.url },
    secrets: [],
    ...overrides,
  };
}

async function state() {
  const tables = await target.query<{ name: string }>(
    "SELECT 'public.' || tablename AS name FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
  );
  const migrations = await target.query<{ filename: string }>(
    'SELECT filename FROM schema_migrations ORDER BY 1',
  );
  return { tables: tables.rows.map((r) => r.name), migrations: migrations.rows.map((r) => r.filename) };
}

const applied = {
  tables: [...EVENT_TABLES, 'public.schema_migrations'],
  migrations: [MIGRATION],
};

describe('sql driver', () => {
  it('rehearses the runbook roll-back: dry run changes nothing, the real run drops, the migration re-applies', async () => {
    const apply = await sqlDriver(APPLY).run(runOf());
    expect(apply.ok).toBe(true);
    expect(apply.summary).toBe(
      'committed: CREATE TABLE ×3, INSERT 0 1 ×2; created public.event_store, public.event_subscriptions, public.event_types',
    );
    expect(await state()).toEqual(applied);

    const rollback = sqlDriver(ROLLBACK);
    const params = { migration: MIGRATION };
    const dry = await rollback.run(runOf({ params, dryRun: true }));
    expect(dry.ok).toBe(true);
    expect(dry.summary).toBe(
      `dry run: rolled back: DROP TABLE ×3, DELETE 1; would drop ${EVENT_TABLES.join(', ')}`,
    );
    expect(dry.output).toBe(
      [
        'BEGIN',
        "SET LOCAL lock_timeout = '2000ms'; SET LOCAL statement_timeout = '10000ms'",
        '1. DROP TABLE IF EXISTS event_store CASCADE',
        '   → DROP TABLE',
        '2. DROP TABLE IF EXISTS event_subscriptions CASCADE',
        '   → DROP TABLE',
        '3. DROP TABLE IF EXISTS event_types CASCADE',
        '   → DROP TABLE',
        `4. DELETE FROM schema_migrations WHERE filename = $1   [$1 = "${MIGRATION}"]`,
        '   → DELETE 1',
        'ROLLBACK (dry run: nothing was changed)',
        `tables that would be dropped: ${EVENT_TABLES.join(', ')}`,
      ].join('\n'),
    );
    expect(await state()).toEqual(applied);
    expect((await target.query('SELECT name FROM event_types')).rows).toEqual([{ name: 'incident.opened' }]);

    const real = await rollback.run(runOf({ params }));
    expect(real.ok).toBe(true);
    expect(real.summary).toBe(`committed: DROP TABLE ×3, DELETE 1; dropped ${EVENT_TABLES.join(', ')}`);
    expect(await state()).toEqual({ tables: ['public.schema_migrations'], migrations: [] });

    // Forward migration applies cleanly after the roll-back.
    const again = await sqlDriver(APPLY).run(runOf());
    expect(again.ok).toBe(true);
    expect(await state()).toEqual(applied);
  });

  it('rolls everything back when a statement fails', async () => {
    await sqlDriver(APPLY).run(runOf());
    const driver = sqlDriver({
      ...ROLLBACK,
      statements: [
        'DELETE FROM schema_migrations WHERE filename = {{migration}}',
        'DROP TABLE event_store',
        'DROP TABLE no_such_table',
        'DROP TABLE event_types CASCADE',
      ],
    });
    const result = await driver.run(runOf({ params: { migration: MIGRATION } }));

    expect(result.ok).toBe(false);
    expect(result.summary).toBe(
      'statement 3 failed, nothing was changed: table "no_such_table" does not exist',
    );
    expect(result.output).toContain(
      '3. DROP TABLE no_such_table\nERROR 42P01: table "no_such_table" does not exist',
    );
    expect(result.output).not.toContain('4. ');
    expect(await state()).toEqual(applied);
  });

  it('binds params as values: SQL in a param is only text', async () => {
    await sqlDriver(APPLY).run(runOf());
    const result = await sqlDriver(ROLLBACK).run(
      runOf({ params: { migration: `x'; DROP TABLE schema_migrations; --` }, dryRun: false }),
    );
    // The tables go (those statements are fixed), but the DELETE matched nothing and schema_migrations stays.
    expect(result.summary).toMatch(/DROP TABLE ×3, DELETE 0;/);
    expect(await state()).toEqual({ tables: ['public.schema_migrations'], migrations: [MIGRATION] });
  });

  it('times out: the statement is cancelled on the server and nothing is committed', async () => {
    const driver = sqlDriver({
      type: 'sql',
      connectionEnv: 'TARGET_DATABASE_URL',
      statements: ['DELETE FROM schema_migrations', 'SELECT pg_sleep(30)'],
    });
    await target.query('INSERT INTO schema_migrations (filename) VALUES ($1)', [MIGRATION]);
    const started = Date.now();
    const result = await driver.run(runOf({ timeoutMs: 500 }));

    expect(result).toMatchObject({ ok: false, summary: 'timed out after 500 ms' });
    expect(Date.now() - started).toBeLessThan(5000);
    await waitFor(
      async () =>
        (
          await target.query(
            "SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()",
          )
        ).rowCount === 0,
      5000,
      'the sleeping statement to end',
    );
    expect((await state()).migrations).toEqual([MIGRATION]);
  });

  it('cancels the running statement on the server when aborted', async () => {
    const driver = sqlDriver({
      type: 'sql',
      connectionEnv: 'TARGET_DATABASE_URL',
      statements: ['SELECT pg_sleep(60)'],
    });
    const controller = new AbortController();
    const running = driver.run(runOf({ signal: controller.signal, timeoutMs: 120_000 }));
    const sleeping = () =>
      target.query(
        "SELECT pid FROM pg_stat_activity WHERE query = 'SELECT pg_sleep(60)' AND state = 'active'",
      );
    await waitFor(async () => (await sleeping()).rowCount === 1, 5000, 'the statement to start');
    controller.abort();

    expect(await running).toMatchObject({ ok: false, summary: 'cancelled' });
    // Long before statement_timeout (the run's two minutes) could end it.
    await waitFor(async () => (await sleeping()).rowCount === 0, 3000, 'the statement to be cancelled');

    // Cancelled before it began: nothing runs.
    await target.query('INSERT INTO schema_migrations (filename) VALUES ($1)', [MIGRATION]);
    const deleting = sqlDriver({
      type: 'sql',
      connectionEnv: 'TARGET_DATABASE_URL',
      statements: ['DELETE FROM schema_migrations'],
    });
    expect(await deleting.run(runOf({ signal: AbortSignal.abort() }))).toMatchObject({
      ok: false,
      summary: 'cancelled',
    });
    expect((await state()).migrations).toEqual([MIGRATION]);
  });

  describe('when the COMMIT and a stop cross', () => {
    /**
     * A proxy in front of the target: with `holdingLater`, the connections after the first (the cancel the
     * driver sends when stopped) wait until `release`; with `losingCommitAnswers`, a COMMIT is passed on
     * and the connection then reset without its answer (a failover, a proxy restart).
     */
    async function proxied(how: 'holdingLater' | 'losingCommitAnswers') {
      const { hostname, port } = new URL(db.url);
      const held: Array<() => void> = [];
      let connections = 0;
      const server = createServer((client) => {
        client.pause();
        const forward = () => {
          const upstream = createConnection({ host: hostname, port: Number(port) });
          client.on('error', () => upstream.destroy());
          upstream.on('error', () => client.destroy());
          upstream.pipe(client);
          client.on('data', (chunk: Buffer) => {
            upstream.write(chunk);
            if (how === 'losingCommitAnswers' && chunk.includes('COMMIT\0')) {
              upstream.unpipe(client);
              // Once PostgreSQL has taken it: the test reads the target afterwards.
              setTimeout(() => client.resetAndDestroy(), 300);
            }
          });
          client.resume();
        };
        if (how === 'holdingLater' && connections++ > 0) held.push(forward);
        else forward();
      });
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      cleanups.push(() => new Promise((resolve) => server.close(resolve)));
      const url = new URL(db.url);
      url.host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
      return {
        url: url.toString(),
        held: () => held.length,
        release: () => {
          for (const forward of held.splice(0)) forward();
        },
      };
    }
    const cleanups: Array<() => Promise<unknown>> = [];
    afterEach(async () => {
      for (const cleanup of cleanups.splice(0)) await cleanup();
    });

    // It told the SRE the transaction was rolled back, and committed it: requested again, it ran twice.
    it('never commits once stopped, the statement ending before the cancel reaches it', async () => {
      const proxy = await proxied('holdingLater');
      const holder = await target.connect();
      await holder.query('SELECT pg_advisory_lock(4242)');
      const controller = new AbortController();
      const running = statementsDriver([
        "INSERT INTO schema_migrations (filename) SELECT 'late.sql' FROM pg_advisory_xact_lock(4242)",
      ]).run(runOf({ signal: controller.signal, env: { TARGET_DATABASE_URL: proxy.url } }));
      const driverBackend = async () =>
        (
          await target.query<{ state: string; query: string }>(
            "SELECT state, query FROM pg_stat_activity WHERE application_name = 'incident-bot action'",
          )
        ).rows[0];
      await waitFor(
        async () => (await driverBackend())?.query.includes('late.sql') === true,
        5000,
        'the statement waiting for the lock',
      );
      controller.abort();
      await waitFor(() => proxy.held() === 1, 5000, 'the cancel on its way');
      await holder.query('SELECT pg_advisory_unlock(4242)');
      holder.release();
      // The statement ends before the cancel arrives: the driver goes on as far as it will.
      await waitFor(
        async () => {
          const backend = await driverBackend();
          return backend !== undefined && backend.state !== 'active' && !backend.query.includes('late.sql');
        },
        5000,
        'the driver past its statement',
      );
      proxy.release();
      const result = await running;
      expect(result).toMatchObject({ ok: false, summary: 'cancelled' });
      expect(result.output).toContain('stopped: the transaction is rolled back');
      expect(result.output).not.toContain('COMMIT');
      expect((await state()).migrations).toEqual([]);
    });

    it('does not say nothing was changed when the answer to its COMMIT is lost', async () => {
      const proxy = await proxied('losingCommitAnswers');
      const result = await statementsDriver([
        "INSERT INTO schema_migrations (filename) VALUES ('committed.sql')",
      ]).run(runOf({ env: { TARGET_DATABASE_URL: proxy.url } }));
      expect(result.ok).toBe(false);
      expect(result.summary).toMatch(
        /^the answer to COMMIT was lost \(.+\): it may have been committed; check the target before requesting it again$/,
      );
      expect(result.output).not.toContain('nothing was changed');
      await waitFor(async () => (await state()).migrations.length === 1, 5000, 'the commit');
      expect((await state()).migrations).toEqual(['committed.sql']);
    });

    // A COMMIT that met lock_timeout (a deferred key check) is tried again: the try after it is no COMMIT
    // sent, and a stop during it is told as a roll-back, not as an answer to a COMMIT lost.
    it('tries again a COMMIT that met lock_timeout, and stops as from any try', async () => {
      await target.query(`CREATE TABLE parent (id int PRIMARY KEY);
        CREATE TABLE child (id int, parent int REFERENCES parent (id) DEFERRABLE INITIALLY DEFERRED);
        INSERT INTO parent VALUES (1)`);
      const holder = await target.connect();
      try {
        await holder.query('BEGIN; SELECT * FROM parent WHERE id = 1 FOR UPDATE');
        const result = await statementsDriver(['INSERT INTO child VALUES (1, 1)'], {
          lockTimeout: '1s',
        }).run(runOf({ timeoutMs: 3500 }));
        expect(result.ok).toBe(false);
        expect(result.summary).toMatch(/^timed out after 3500 ms \(\d+ tr(y|ies) gave up at lock_timeout/);
        expect(result.output).toContain('stopped: the transaction is rolled back');
      } finally {
        await holder.query('ROLLBACK');
        holder.release();
      }
      expect((await target.query('SELECT * FROM child')).rows).toEqual([]);
    });

    it('says nothing was changed when PostgreSQL refuses its COMMIT', async () => {
      await target.query(
        'CREATE TABLE deferred (id int PRIMARY KEY, parent int REFERENCES deferred (id) DEFERRABLE INITIALLY DEFERRED)',
      );
      const result = await statementsDriver(['INSERT INTO deferred (id, parent) VALUES (1, 2)']).run(runOf());
      expect(result).toMatchObject({ ok: false });
      expect(result.summary).toMatch(/^failed, nothing was changed: .*foreign key/);
    });
  });

  describe('on a table another session holds a lock on', () => {
    let reader: pg.Client;
    beforeEach(async () => {
      await target.query('CREATE TABLE t (id int); INSERT INTO t VALUES (1)');
      // A reader in an open transaction holds ACCESS SHARE on t until it ends.
      reader = new pg.Client({ connectionString: db.url });
      await reader.connect();
      await reader.query('BEGIN');
      await reader.query('SELECT * FROM t');
    });
    afterEach(async () => {
      await reader.query('ROLLBACK').catch(() => {});
      await reader.end();
    });

    const waitingForLock = () =>
      waitFor(
        async () =>
          (
            await target.query(
              `SELECT 1 FROM pg_locks l JOIN pg_stat_activity a USING (pid)
                WHERE NOT l.granted AND a.application_name = 'incident-bot action'`,
            )
          ).rowCount! > 0,
        10_000,
        'the driver to wait for its lock',
      );
    // Queued behind the driver's lock request: it answers once the driver stops waiting.
    const selectAnswers = () =>
      Promise.race([
        target.query('SELECT count(*)::int AS n FROM t').then((r) => r.rows),
        new Promise((resolve) => setTimeout(() => resolve('still queued after 15 s'), 15_000)),
      ]);

    it.each(['DROP TABLE t CASCADE', 'ALTER TABLE t ADD COLUMN note text'])(
      'a dry run of %s gives up after lock_timeout, and readers of the table keep answering',
      async (sql) => {
        const started = Date.now();
        const dry = statementsDriver([sql]).run(runOf({ dryRun: true, timeoutMs: 120_000 }));
        await waitingForLock();
        expect(await selectAnswers()).toEqual([{ n: 1 }]);

        const result = await dry;
        expect(result).toMatchObject({
          ok: false,
          summary:
            'dry run: statement 1 failed, nothing was changed: lock_timeout: another session holds a lock it needs (waited 2 s)',
        });
        expect(result.output).toContain('ERROR 55P03: canceling statement due to lock timeout');
        // Long before the action's two minutes.
        expect(Date.now() - started).toBeLessThan(15_000);
        expect((await state()).tables).toEqual(['public.schema_migrations', 'public.t']);
      },
    );

    it('a real run waits lock_timeout at a time, letting readers through between tries, until it gets the lock', async () => {
      const real = statementsDriver(['DROP TABLE t CASCADE']).run(runOf({ timeoutMs: 120_000 }));
      await waitingForLock();
      expect(await selectAnswers()).toEqual([{ n: 1 }]);
      await reader.query('ROLLBACK');

      const result = await real;
      expect(result).toMatchObject({ ok: true });
      expect(result.summary).toMatch(
        /^committed: DROP TABLE; dropped public\.t \(on try \d+: \d tr(y|ies) gave up at lock_timeout\)$/,
      );
      expect(result.output).toContain('ROLLBACK: lock_timeout (waited 5 s), trying again in 1 s');
      expect((await state()).tables).toEqual(['public.schema_migrations']);
    });

    it('a real run that never gets the lock stops at its timeout, saying why, with nothing changed', async () => {
      const driver = statementsDriver(['DROP TABLE t CASCADE'], { lockTimeout: '1s' });
      const result = await driver.run(runOf({ timeoutMs: 3500 }));
      expect(result.ok).toBe(false);
      expect(result.summary).toMatch(
        /^timed out after 3500 ms \(\d tr(y|ies) gave up at lock_timeout: another session holds a lock it needs\)$/,
      );
      expect(result.output).toContain("SET LOCAL lock_timeout = '1000ms'");
      expect((await state()).tables).toEqual(['public.schema_migrations', 'public.t']);
    });
  });

  it('gives a dry run at most 10 s', async () => {
    const started = Date.now();
    const result = await statementsDriver(['SELECT pg_sleep(60)']).run(
      runOf({ dryRun: true, timeoutMs: 120_000 }),
    );
    expect(result).toMatchObject({ ok: false, summary: 'dry run: timed out after 10000 ms' });
    expect(Date.now() - started).toBeLessThan(30_000);
  });

  it('never shows the connection string or its password', async () => {
    const secretUrl = 'postgres://bot:hunter2-very-secret@127.0.0.1:1/nowhere';
    const result = await sqlDriver(ROLLBACK).run(
      runOf({ env: { TARGET_DATABASE_URL: secretUrl }, params: { migration: MIGRATION } }),
    );
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(/^failed, nothing was changed: connect ECONNREFUSED/);
    expect(JSON.stringify(result)).not.toContain('hunter2');

    expect(await sqlDriver(ROLLBACK).run(runOf({ env: {}, params: { migration: MIGRATION } }))).toMatchObject(
      {
        ok: false,
        summary: 'TARGET_DATABASE_URL is not set',
      },
    );
    const inherited = { ...ROLLBACK, connectionEnv: 'toString' };
    expect(await sqlDriver(inherited).run(runOf({ params: { migration: MIGRATION } }))).toMatchObject({
      ok: false,
      summary: 'toString is not set',
    });
  });

  it('refuses a file that uses placeholders or controls the transaction, and one it cannot read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sql-driver-'));
    const file = join(dir, 'rollback.sql');
    await writeFile(file, 'DELETE FROM schema_migrations WHERE filename = {{migration}};\n');
    expect(
      await sqlDriver({ ...APPLY, file }).run(runOf({ params: { migration: MIGRATION } })),
    ).toMatchObject({
      ok: false,
      summary: `${file} contains {{…}}: a file takes no placeholders, use statements`,
    });
    // A COMMIT inside would make a dry run real.
    await writeFile(file, `BEGIN;\nDELETE FROM schema_migrations;\nCOMMIT;\n`);
    await target.query('INSERT INTO schema_migrations (filename) VALUES ($1)', [MIGRATION]);
    expect(await sqlDriver({ ...APPLY, file }).run(runOf({ dryRun: true }))).toMatchObject({
      ok: false,
      summary: `dry run: ${file}: BEGIN is not allowed: the driver runs everything in one transaction of its own`,
    });
    expect((await state()).migrations).toEqual([MIGRATION]);
    await rm(dir, { recursive: true });

    const missing = await sqlDriver({ ...APPLY, file }).run(runOf());
    expect(missing.ok).toBe(false);
    expect(missing.summary).toMatch(/^cannot read .*rollback\.sql: ENOENT/);
  });

  it('checks its settings: exactly one of file and statements, placeholders only where a value goes', () => {
    const problems = (settings: Record<string, unknown>) =>
      SqlSettingsSchema.safeParse({ type: 'sql', connectionEnv: 'DB', ...settings }).error?.issues.map(
        (i) => i.message,
      );
    expect(problems({})).toEqual(['expected exactly one of file and statements']);
    expect(problems({ file: 'a.sql', statements: ['SELECT 1'] })).toEqual([
      'expected exactly one of file and statements',
    ]);
    expect(problems({ file: 'a.txt' })).toEqual(['expected the path of a .sql file']);
    expect(problems({ statements: ['DROP TABLE {{table}}'] })).toEqual([
      '{{table}} stands where a name goes (after TABLE); a param may only stand for a value',
    ]);
    expect(problems({ statements: ['DELETE FROM t', 'commit'] })).toEqual([
      'COMMIT is not allowed: the driver runs everything in one transaction of its own',
    ]);
    expect(
      problems({ statements: ["DO $$ BEGIN RAISE NOTICE 'x'; END $$; SELECT 'COMMIT'"] }),
    ).toBeUndefined();
    expect(problems({ statements: ["DELETE FROM t WHERE f = '{{f}}'"] })).toEqual([
      '{{f}} is inside a quoted string; write it bare, it is sent as a bind parameter',
    ]);

    const settings = SqlSettingsSchema.parse({
      type: 'sql',
      connectionEnv: 'DB',
      statements: [
        'UPDATE flags SET enabled = {{on}} WHERE name = {{flag}}',
        'DELETE FROM t WHERE a = {{flag}}',
      ],
    });
    expect(placeholdersOf(settings)).toEqual(['on', 'flag']);
  });
});

describe('compileStatement', () => {
  it('turns placeholders into bind parameters, one per name', () => {
    expect(
      compileStatement('UPDATE t SET a = {{x}}, b = {{y}} WHERE c = {{x}} AND d IS DISTINCT FROM {{y}}'),
    ).toEqual({
      text: 'UPDATE t SET a = $1, b = $2 WHERE c = $1 AND d IS DISTINCT FROM $2',
      params: ['x', 'y'],
      problems: [],
    });
    expect(compileStatement("SELECT '{{not}}' -- {{a}}\n").params).toEqual([]);
  });

  it.each([
    ['DELETE FROM {{t}} WHERE a = 1', '{{t}} stands where a name goes (after FROM)'],
    ['INSERT INTO {{t}} VALUES (1)', '{{t}} stands where a name goes (after INTO)'],
    ['ALTER TABLE IF EXISTS {{t}} ADD c int', '{{t}} stands where a name goes (after EXISTS)'],
    ['SELECT * FROM event_{{suffix}}', '{{suffix}} is glued to a name'],
    ['SELECT * FROM public.{{t}}', '{{t}} is glued to a name'],
    ['SELECT {{v}}:: {{type}}', '{{type}} stands where a type name goes'],
    ['SELECT $1 + {{v}}', 'write {{name}} placeholders instead of $1'],
    ['SELECT "{{col}}" FROM t', '{{col}} is inside a quoted name'],
    ["SELECT E'a\\'{{x}}'", '{{x}} is inside a quoted string'],
    ['DO $$ BEGIN PERFORM {{x}}; END $$', '{{x}} is inside a dollar-quoted body'],
    ['SELECT 1 /* {{x}} /* nested */ */', '{{x}} is inside a comment'],
    ['DELETE FROM a WHERE x = {{x}}; DELETE FROM b', 'must be one statement'],
  ])('refuses %s', (sql, problem) => {
    expect(compileStatement(sql).problems.join('\n')).toContain(problem);
  });

  it('lets a statement without placeholders hold several statements', () => {
    expect(compileStatement('DROP TABLE a; DROP TABLE b; -- done').problems).toEqual([]);
  });
});
