import { type Job, type Queue, Worker } from 'bullmq';
import { createQueue, createWorkerRedis } from '../../src/queues/queues.js';
import { clearRedisPrefix, redisUrl, uniquePrefix } from './services.js';

type Cleanups = Array<() => Promise<unknown>>;

/** The queue `name` under a prefix of its own, closed and cleared by `cleanups`. */
export function queueOfItsOwn<T>(name: string, cleanups: Cleanups) {
  const prefix = uniquePrefix();
  const redis = createWorkerRedis(redisUrl());
  const queue = createQueue<T>(name, redis, prefix);
  cleanups.push(
    () => redis.quit(),
    () => queue.close(),
    () => clearRedisPrefix(prefix),
  );
  return { queue, prefix, redis };
}

/**
 * A worker on `queue` that holds each job it takes, running, until `release()` (one `fails` names it
 * fails at once), closed by `cleanups`.
 */
export function holdingWorker<T>(
  queue: Queue<T>,
  cleanups: Cleanups,
  fails: (job: Job<T>) => boolean = () => false,
): { release: () => void } {
  const connection = createWorkerRedis(redisUrl());
  let release!: () => void;
  const held = new Promise<void>((resolve) => {
    release = resolve;
  });
  const worker = new Worker<T>(
    queue.name,
    async (job) => {
      if (fails(job)) throw new Error('it failed');
      await held;
    },
    { connection, prefix: queue.opts.prefix! },
  );
  cleanups.push(
    () => connection.quit(),
    () => worker.close(),
    async () => release(),
  );
  return { release };
}
