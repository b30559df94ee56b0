import type { Queue } from 'bullmq';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acceptDeliveries, deliveryOf } from '../../src/alerts/deliveries.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { SlackSyncJob } from '../../src/queues/queues.js';
import {
  DELIVERIES_CONCURRENCY,
  DeliveriesWorker,
  type WEBHOOK_BURST,
} from '../../src/workers/deliveriesWorker.js';
import { payload } from '../support/alertmanager.js';
import { recordingLogger } from '../support/logLines.js';
import { createTestDatabase, type TestDatabase, waitFor } from '../support/services.js';

const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');

describe('the deliveries worker', () => {
  let db: TestDatabase;
  let pool: Pool;
  const { logger, lines } = recordingLogger<{ level: number; msg: string; err?: { message: string } }>(
    'info',
  );

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url);
    await migrate(pool);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });
  beforeEach(() => {
    lines.length = 0;
  });

  const workerWith = (
    queue: Partial<Queue<SlackSyncJob>>,
    queueAnswers = async () => true,
    webhookBurst?: typeof WEBHOOK_BURST,
  ) => {
    const metrics = new Metrics();
    const worker = new DeliveriesWorker({
      ...(webhookBurst ? { webhookBurst } : {}),
      pool,
      config,
      queue: queue as Queue<SlackSyncJob>,
      queueAnswers,
      effects: {
        updateDue: async () => {},
        opened: async () => {},
        resolved: async () => {},
        alertsLeftOut: async () => false,
      },
      metrics,
      logger,
    });
    return { worker, metrics };
  };
  const store = async (group: string) => {
    const [accepted] = await acceptDeliveries(pool, [
      deliveryOf(WebhookPayloadSchema.parse(payload({ group, alerts: [{ instance: 'pod-1' }] }))),
    ]);
    if (accepted?.outcome !== 'accepted') throw new Error('not stored');
    return accepted.deliveryId;
  };
  /** A queue that takes every job: for the tests about when the worker ingests, not what it queues. */
  const anyQueue = { add: async () => undefined as never };
  /** What a test held is ingested, rather than left to the next test's worker. */
  const ingestWhatIsLeft = async () => {
    const { worker } = workerWith(anyQueue);
    worker.wake();
    await worker.idle();
  };
  const processed = async (id: number) =>
    (
      await pool.query('SELECT outcome FROM alert_deliveries WHERE id = $1 AND processed_at IS NOT NULL', [
        id,
      ])
    ).rows[0];

  it('ingests what it is woken for, counts it by outcome and queues the incident’s Slack sync', async () => {
    const added: unknown[] = [];
    const { worker, metrics } = workerWith({ add: async (...job: unknown[]) => added.push(job) as never });
    const id = await store('Woken');
    worker.wake();
    await worker.idle();
    expect(await processed(id)).toEqual({ outcome: 'created' });
    expect(added).toHaveLength(1);
    expect((await metrics.webhookDeliveries.get()).values).toMatchObject([
      { labels: { outcome: 'created' }, value: 1 },
    ]);
  });

  it('keeps what it ingested when the queue then fails, and says the reconcile passes will pass it on', async () => {
    const { worker } = workerWith({ add: () => Promise.reject(new Error('Connection is closed.')) });
    const id = await store('QueueFails');
    worker.wake();
    await worker.idle();
    expect(await processed(id)).toEqual({ outcome: 'created' });
    expect(lines).toMatchObject([
      { level: 30, msg: 'alertmanager delivery ingested', deliveryId: id, outcome: 'created' },
      {
        level: 40,
        msg: 'alertmanager delivery: ingested, but what it changed was not queued; the reconcile passes will',
        err: { message: 'Connection is closed.' },
      },
    ]);
  });

  it('stops taking deliveries once the queue does not take what one changed and Redis is gone', async () => {
    let redisAnswers = true;
    const { worker } = workerWith(
      {
        add: () => {
          redisAnswers = false;
          return Promise.reject(new Error('Connection is closed.'));
        },
      },
      async () => redisAnswers,
    );
    const ids = [await store('QueueGone1'), await store('QueueGone2')];
    worker.wake();
    await worker.idle();
    // Taken before Redis was known to be gone, the first is kept; the second waits, stored.
    expect(await processed(ids[0]!)).toEqual({ outcome: 'created' });
    expect(await processed(ids[1]!)).toBeUndefined();
    redisAnswers = true;
    worker.wake();
    await worker.idle();
    expect(await processed(ids[1]!)).toEqual({ outcome: 'created' });
  });

  it('goes on when the queue failed once but Redis still answers', async () => {
    const { worker } = workerWith({ add: () => Promise.reject(new Error('timed out after 3000 ms')) });
    const ids = [await store('QueueSlow1'), await store('QueueSlow2')];
    worker.wake();
    await worker.idle();
    expect(await processed(ids[0]!)).toEqual({ outcome: 'created' });
    expect(await processed(ids[1]!)).toEqual({ outcome: 'created' });
  });

  it('does not wait on a PING that is never answered (a connection gone silent)', async () => {
    const { worker } = workerWith(anyQueue, () => new Promise(() => {}));
    const id = await store('RedisSilent');
    worker.wake();
    await worker.idle();
    expect(await processed(id)).toBeUndefined();
    await pool.query('DELETE FROM alert_deliveries WHERE id = $1', [id]);
  });

  describe('how many it ingests at once', () => {
    /**
     * A queue whose writes wait until `together` are being made at once (for 2 s at most): how many
     * deliveries were being passed on at once, at most.
     */
    const slowQueue = (together: number) => {
      const seen = { inFlight: 0, most: 0 };
      const add = async () => {
        seen.most = Math.max(seen.most, ++seen.inFlight);
        // Less than the worker waits on a write (3 s), which would let one loop's writes pile up.
        await waitFor(() => seen.inFlight >= together, 2000, `${together} writes at once`).catch(() => {});
        await new Promise((resolve) => setTimeout(resolve, 100));
        seen.inFlight--;
        return undefined as never;
      };
      return { seen, queue: { add } };
    };
    const storeFour = (name: string) => Promise.all([1, 2, 3, 4].map((g) => store(`${name}${g}`)));

    it('takes several at once while the webhook is quiet', async () => {
      const { seen, queue } = slowQueue(DELIVERIES_CONCURRENCY);
      const { worker } = workerWith(queue);
      await storeFour('Quiet');
      for (let i = 0; i < 4; i++) worker.wake();
      await worker.idle();
      expect(seen.most).toBe(DELIVERIES_CONCURRENCY);
    });

    it('holds the ingest while the webhook is storing a burst, so that its answers go first; a lone delivery goes at once', async () => {
      // However long the test takes, it is one burst, on hold throughout.
      const { worker } = workerWith(anyQueue, async () => true, {
        withinMs: 60_000,
        holdForMs: 60_000,
        forAtMostMs: 60_000,
      });
      try {
        const lone = await store('Lone');
        worker.stored();
        await worker.idle();
        expect(await processed(lone)).toEqual({ outcome: 'created' });
        const held = await Promise.all([store('Held1'), store('Held2')]);
        worker.stored();
        worker.stored();
        worker.wake(); // as the poll does
        await worker.idle();
        for (const id of held) expect(await processed(id)).toBeUndefined();
      } finally {
        await worker.stop();
        await ingestWhatIsLeft();
      }
    });

    it('takes what a hold kept as soon as it ends, without waiting for a poll', async () => {
      const { worker } = workerWith(anyQueue, async () => true, {
        withinMs: 60_000,
        holdForMs: 3000,
        forAtMostMs: 60_000,
      });
      try {
        worker.stored();
        await worker.idle();
        const id = await store('AfterHold');
        worker.stored();
        await worker.idle();
        expect(await processed(id)).toBeUndefined();
        // Not started: no poll wakes it.
        await waitFor(() => processed(id), 10_000, 'the delivery kept to be ingested');
      } finally {
        await worker.stop();
      }
    });

    it('holds again only once the ingest has caught up since its last hold, so that bursts one after another are still ingested', async () => {
      let redisAnswers = true;
      const { worker } = workerWith(anyQueue, async () => redisAnswers, {
        withinMs: 1000,
        holdForMs: 60_000,
        forAtMostMs: 60_000,
      });
      const nextBurst = () => new Promise((resolve) => setTimeout(resolve, 1100));
      try {
        worker.stored();
        worker.stored(); // on hold
        // The hold ends with its burst, but nothing is claimed: the ingest has not caught up.
        redisAnswers = false;
        await nextBurst();
        await worker.idle();
        redisAnswers = true;
        // Stored before its burst's deliveries are told: a hold would begin at the second, before the first's
        // loop gets to claim it.
        const taken = await store('NotHeld');
        worker.stored();
        worker.stored(); // one at a time, no hold
        await worker.idle();
        expect(await processed(taken)).toEqual({ outcome: 'created' });

        // Its loop has found nothing left since: the next burst is held.
        await nextBurst();
        const kept = await store('HeldAgain');
        worker.stored();
        worker.stored();
        await worker.idle();
        expect(await processed(kept)).toBeUndefined();
      } finally {
        await worker.stop();
        await ingestWhatIsLeft();
      }
    });

    it('takes one at a time once the hold is over, while the burst goes on', async () => {
      const { seen, queue } = slowQueue(1);
      // However long the test takes, it is one burst, past its hold.
      const { worker } = workerWith(queue, async () => true, {
        withinMs: 60_000,
        holdForMs: 0,
        forAtMostMs: 60_000,
      });
      const ids = await storeFour('Busy');
      for (let i = 0; i < 4; i++) worker.stored();
      await worker.idle();
      expect(seen.most).toBe(1);
      for (const id of ids) expect(await processed(id)).toEqual({ outcome: 'created' });
    });

    it('takes several at once again once the burst has gone on for long: a flood', async () => {
      const { seen, queue } = slowQueue(DELIVERIES_CONCURRENCY);
      const { worker } = workerWith(queue, async () => true, {
        withinMs: 60_000,
        holdForMs: 0,
        forAtMostMs: 50,
      });
      worker.stored();
      await worker.idle();
      await new Promise((resolve) => setTimeout(resolve, 100));
      await storeFour('Flood');
      for (let i = 0; i < 4; i++) worker.stored();
      await worker.idle();
      expect(seen.most).toBe(DELIVERIES_CONCURRENCY);
    });
  });

  it('leaves deliveries stored while Redis is away, and takes them at its next poll once it is back', async () => {
    let ready = false;
    const { worker } = workerWith(anyQueue, async () => ready);
    const id = await store('RedisAway');
    worker.start();
    try {
      worker.wake();
      await worker.idle();
      expect(await processed(id)).toBeUndefined();
      ready = true;
      await waitFor(() => processed(id), 10_000, 'the delivery to be ingested');
    } finally {
      await worker.stop();
    }
  });
});
