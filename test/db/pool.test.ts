import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  CONNECTION_TIMEOUT_MS,
  clientsInTurn,
  createPool,
  isDatabaseUnreachable,
} from '../../src/db/pool.js';
import { type ProxiedDatabase, proxiedDatabase } from '../support/tcpProxy.js';

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
      await expect(impatient.connect()).rejects.toThrow('all 2 clients of the pool stayed busy for 200 ms');
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
