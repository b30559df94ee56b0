import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOST_WITHIN_MS, ServiceLock } from '../../src/actions/serviceLock.js';
import { createPool } from '../../src/db/pool.js';
import { createTestDatabase, type TestDatabase, waitFor } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';

describe('the service lock', () => {
  let database: TestDatabase;
  let proxy: TcpProxy;
  let direct: pg.Pool;
  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.url);
    proxy = await startTcpProxy(url.hostname, Number(url.port));
    direct = new pg.Pool({ connectionString: database.url });
  });
  afterAll(async () => {
    await direct.end();
    await proxy.close();
    await database.drop();
  });

  it('is one run at a time per service', async () => {
    const held = await ServiceLock.tryAcquire(direct, 'ledger');
    expect(held).toBeDefined();
    expect(await ServiceLock.tryAcquire(direct, 'ledger')).toBeUndefined();
    await held!.release();
    const again = await ServiceLock.tryAcquire(direct, 'ledger');
    expect(again).toBeDefined();
    await again!.release();
  });

  it(`is lost within ${LOST_WITHIN_MS / 1000} s when its connection goes silent, and once released another run may take it`, async () => {
    const proxied = new URL(database.url);
    proxied.host = `127.0.0.1:${proxy.port}`;
    const pool = createPool(proxied.toString(), 2);
    try {
      const lock = (await ServiceLock.tryAcquire(pool, 'payments-api'))!;
      // A path that died without a word, the server still there: the session keeps its lock until ended.
      proxy.silenceOpen();
      await waitFor(() => lock.lost.aborted, LOST_WITHIN_MS + 5000, 'the lock to be lost');
      expect((lock.lost.reason as Error).message).toMatch(/did not answer/);
      await lock.release();
      const taken = await waitFor(
        () => ServiceLock.tryAcquire(direct, 'payments-api'),
        5000,
        'another run to take the lock',
      );
      await taken.release();
    } finally {
      await pool.end();
    }
  }, 40_000);
});
