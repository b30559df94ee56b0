import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPool } from '../../src/db/pool.js';
import { SYNC_QUERY_TIMEOUT_MS, SyncBusyError, withSyncLock } from '../../src/db/syncLock.js';
import { type ProxiedDatabase, proxiedDatabase } from '../support/tcpProxy.js';

/**
 * A sync holds its incident's lock on a connection that may go silent (a NAT forgetting the flow, a
 * failover that sends no reset). It must give up within a bound and let the lock go, or the incident's
 * Slack messages freeze until TCP gives up, hours later.
 */
describe('the Slack sync lock', () => {
  let db: ProxiedDatabase;
  beforeAll(async () => {
    db = await proxiedDatabase();
  });
  afterAll(() => db.close());

  it(
    'is given up, and taken by another syncer, when the connection holding it goes silent',
    async () => {
      const syncPool = createPool(db.proxiedUrl, 2, { queryTimeoutMs: SYNC_QUERY_TIMEOUT_MS });
      try {
        let silenced!: () => void;
        const holding = new Promise<void>((resolve) => {
          silenced = resolve;
        });
        const stuck = withSyncLock(syncPool, 'test:sync', 1, 'incident 1', async (client) => {
          silenced();
          // The path dies under the sync's next query.
          await client.query('SELECT pg_sleep(0.2)');
        });
        await holding;
        db.proxy.silenceOpen();
        await expect(stuck).rejects.toThrow();

        // The lock went with the connection the sync gave up: another syncer takes it.
        const deadline = Date.now() + 10_000;
        let took = false;
        while (!took && Date.now() < deadline) {
          took = await withSyncLock(db.direct, 'test:sync', 1, 'incident 1', async () => true).catch(
            (err) => {
              if (err instanceof SyncBusyError) return false;
              throw err;
            },
          );
          if (!took) await new Promise((r) => setTimeout(r, 200));
        }
        expect(took).toBe(true);
      } finally {
        await syncPool.end();
      }
    },
    SYNC_QUERY_TIMEOUT_MS * 3 + 15_000,
  );
});
