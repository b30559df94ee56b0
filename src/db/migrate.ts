import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { createPool } from './pool.js';

export const MIGRATIONS_DIR = fileURLToPath(new URL('../../migrations/', import.meta.url));
const FILE_NAME = /^\d{3}_[a-z0-9_]+\.sql$/;
// One fixed key: every replica of every role takes the same lock before it applies anything.
const MIGRATION_LOCK_KEY = 'incident-bot:migrations';

export class MigrationError extends Error {
  readonly code = 'MIGRATION_FAILED';
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'MigrationError';
  }
}

export interface MigrationFile {
  filename: string;
  sql: string;
  checksum: string;
}

export async function readMigrations(dir = MIGRATIONS_DIR): Promise<MigrationFile[]> {
  const names = (await readdir(dir)).filter((name) => name.endsWith('.sql')).sort();
  const bad = names.filter((name) => !FILE_NAME.test(name));
  if (bad.length > 0)
    throw new MigrationError(`migration file names must look like 001_description.sql: ${bad.join(', ')}`);
  return Promise.all(
    names.map(async (filename) => {
      const sql = await readFile(join(dir, filename), 'utf8');
      return { filename, sql, checksum: createHash('sha256').update(sql).digest('hex') };
    }),
  );
}

/**
 * migrate, on a connection of its own, under none of the other pools' timeouts: a migration takes as long
 * as it takes, and waits for another replica's to end.
 */
export async function migrateDatabase(databaseUrl: string): Promise<string[]> {
  const pool = createPool(databaseUrl, 1);
  try {
    return await migrate(pool);
  } finally {
    await pool.end();
  }
}

/**
 * Applies the files not yet recorded in `schema_migrations`, in order, each in its own transaction,
 * under an advisory lock so that replicas starting together apply each file once.
 * A recorded file whose content has changed since is refused: edit history with a new file instead.
 */
export async function migrate(pool: pg.Pool, dir = MIGRATIONS_DIR): Promise<string[]> {
  const files = await readMigrations(dir);
  const client = await pool.connect();
  try {
    await client.query('SELECT pg_advisory_lock(hashtext($1))', [MIGRATION_LOCK_KEY]);
    await client.query(`
      CREATE TABLE IF NOT EXISTS schema_migrations (
        filename text PRIMARY KEY,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
    const { rows } = await client.query<{ filename: string; checksum: string }>(
      'SELECT filename, checksum FROM schema_migrations',
    );
    const applied = new Map(rows.map((row) => [row.filename, row.checksum]));
    const newlyApplied: string[] = [];
    for (const file of files) {
      const recorded = applied.get(file.filename);
      if (recorded !== undefined) {
        if (recorded !== file.checksum) {
          throw new MigrationError(
            `${file.filename} was applied with checksum ${recorded.slice(0, 12)} but the file now has ${file.checksum.slice(0, 12)}: applied migrations must not change; add a new file instead`,
          );
        }
        continue;
      }
      try {
        await client.query('BEGIN');
        await client.query(file.sql);
        await client.query('INSERT INTO schema_migrations (filename, checksum) VALUES ($1, $2)', [
          file.filename,
          file.checksum,
        ]);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw new MigrationError(`${file.filename}: ${(err as Error).message}`, { cause: err });
      }
      newlyApplied.push(file.filename);
    }
    return newlyApplied;
  } finally {
    await client.query('SELECT pg_advisory_unlock(hashtext($1))', [MIGRATION_LOCK_KEY]).catch(() => {});
    client.release(true); // closing the session also drops the advisory lock, whatever happened above
  }
}
