import { cp, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

describe('migrations', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeEach(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 6 });
  });
  afterEach(async () => {
    await pool.end();
    await db.drop();
  });

  const tables = async () =>
    (
      await pool.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename")
    ).rows.map((r) => r.tablename);

  it('every file is idempotent: replaying all of them twice on an empty database succeeds', async () => {
    const files = await readMigrations();
    expect(files.length).toBeGreaterThan(0);
    for (let round = 0; round < 2; round++) {
      for (const file of files) await pool.query(file.sql);
    }
    expect(await tables()).toEqual(expect.arrayContaining(['alerts', 'incidents', 'timeline_entries']));
    // The runner then records them without complaint, and a second run applies nothing.
    expect(await migrate(pool)).toEqual(files.map((f) => f.filename));
    expect(await migrate(pool)).toEqual([]);
  });

  it('records each applied file in schema_migrations with its checksum', async () => {
    await migrate(pool);
    const { rows } = await pool.query('SELECT filename, checksum FROM schema_migrations ORDER BY filename');
    const files = await readMigrations();
    expect(rows).toEqual(files.map((f) => ({ filename: f.filename, checksum: f.checksum })));
  });

  it('applies each file once when several replicas start at the same moment', async () => {
    const results = await Promise.all(Array.from({ length: 5 }, () => migrate(pool)));
    const applied = results.flat();
    const files = await readMigrations();
    expect(applied.sort()).toEqual(files.map((f) => f.filename).sort());
  });

  it('refuses to run when an applied file has changed since', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    await migrate(pool, dir);
    const [first] = await readMigrations(dir);
    await writeFile(join(dir, first!.filename), `${first!.sql}\n-- edited after being applied\n`);
    await expect(migrate(pool, dir)).rejects.toThrow(
      new RegExp(`${first!.filename} was applied with checksum \\w+ but the file now has \\w+`),
    );
  });

  it('rolls back a failing file entirely and records nothing for it', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    await writeFile(
      join(dir, '900_broken.sql'),
      'CREATE TABLE half_done (id int);\nSELECT * FROM no_such_table;\n',
    );
    await expect(migrate(pool, dir)).rejects.toThrow(
      /900_broken\.sql: relation "no_such_table" does not exist/,
    );
    expect(await tables()).not.toContain('half_done');
    const { rows } = await pool.query("SELECT 1 FROM schema_migrations WHERE filename = '900_broken.sql'");
    expect(rows).toHaveLength(0);
  });

  it('refuses file names that do not follow NNN_description.sql', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'migrations-'));
    await writeFile(join(dir, 'add-things.sql'), 'SELECT 1;');
    await expect(readMigrations(dir)).rejects.toThrow(/001_description\.sql: add-things\.sql/);
  });
});
