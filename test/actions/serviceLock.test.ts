import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOST_WITHIN_MS, ServiceLock } from '../../src/actions/serviceLock.js';
import { createPool } from '../../src/db/pool.js';
import { createTestDatabase, waitFor } from '../support/services.js';
import { type ProxiedDatabase, proxiedDatabase } from '../support/tcpProxy.js';

describe('the service lock', () => {
  let db: ProxiedDatabase;
  beforeAll(async () => {
    db = await proxiedDatabase();
  });
  afterAll(() => db.close());

  /** The lock, free again in PostgreSQL, is taken by another run (which gives it back). */
  const takenByAnotherRun = async (service: string) => {
    const taken = await waitFor(
      () => ServiceLock.tryAcquire(db.direct, service),
      5000,
      'another run to take the lock',
    );
    await taken.release();
  };

  it('is one run at a time per service', async () => {
    const held = await ServiceLock.tryAcquire(db.direct, 'ledger');
    expect(held).toBeDefined();
    expect(await ServiceLock.tryAcquire(db.direct, 'ledger')).toBeUndefined();
    await held!.release();
    const again = await ServiceLock.tryAcquire(db.direct, 'ledger');
    expect(again).toBeDefined();
    await again!.release();
  });

  it("is seen taken, without being taken, while a run of this database holds it, and not for another database's", async () => {
    const other = await createTestDatabase();
    const otherPool = createPool(other.url, 1);
    try {
      const held = (await ServiceLock.tryAcquire(db.direct, 'search'))!;
      expect(await ServiceLock.isTaken(db.direct, 'search')).toBe(true);
      expect(await ServiceLock.isTaken(db.direct, 'billing')).toBe(false);
      // The same keys, another database: its own lock, free.
      expect(await ServiceLock.isTaken(otherPool, 'search')).toBe(false);
      await held.release();
      expect(await ServiceLock.isTaken(db.direct, 'search')).toBe(false);
    } finally {
      await otherPool.end();
      await other.drop();
    }
  });

  it(`is lost within ${LOST_WITHIN_MS / 1000} s when its connection goes silent, and once released another run may take it`, async () => {
    const pool = createPool(db.proxiedUrl, 2);
    try {
      const lock = (await ServiceLock.tryAcquire(pool, 'payments-api'))!;
      // A path that died without a word, the server still there: the session keeps its lock until ended.
      db.proxy.silenceOpen();
      await waitFor(() => lock.lost.aborted, LOST_WITHIN_MS + 5000, 'the lock to be lost');
      expect((lock.lost.reason as Error).message).toMatch(/did not answer/);
      await lock.release();
      await takenByAnotherRun('payments-api');
    } finally {
      await pool.end();
    }
  }, 40_000);

  it('is given back, its session ended, when its connection went silent since its last heartbeat', async () => {
    const pool = createPool(db.proxiedUrl, 2);
    try {
      const lock = (await ServiceLock.tryAcquire(pool, 'search-api'))!;
      db.proxy.silenceOpen();
      // The unlock goes unanswered: not waited for until TCP gives up, hours later, holding the client.
      const released = await Promise.race([
        lock.release().then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), LOST_WITHIN_MS)),
      ]);
      expect(released).toBe(true);
      await takenByAnotherRun('search-api');
    } finally {
      await pool.end();
    }
  }, 40_000);
});
