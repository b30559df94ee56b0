import { afterAll, beforeAll } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { createTestDatabase, type TestDatabase } from './services.js';

/**
 * A database of the calling describe block's own, with the bot's schema: made before its tests, dropped
 * after them. The function returned gives its pool, of `size` connections for tests that race many.
 */
export function migratedDatabase(size = 20): () => Pool {
  let db: TestDatabase | undefined;
  let pool: Pool | undefined;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url, size);
    await migrate(pool);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  return () => {
    if (!pool) throw new Error('the database is made in beforeAll: use it inside a test');
    return pool;
  };
}
