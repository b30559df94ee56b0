import { Job, UnrecoverableError, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import {
  enqueuePlaybookChecks,
  HEALTH_QUEUE,
  type HealthJob,
  requeuePlaybookChecks,
} from '../../src/queues/healthJobs.js';
import { createQueue, createWorkerRedis } from '../../src/queues/queues.js';
import { clearRedisPrefix, redisUrl, uniquePrefix, waitFor } from '../support/services.js';

describe('a playbook’s checks job', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('is queued again by the sweep after it failed every attempt, where a plain add would do nothing', async () => {
    const prefix = uniquePrefix();
    const redis = createWorkerRedis(redisUrl());
    const queue = createQueue<HealthJob>(HEALTH_QUEUE, redis, prefix);
    cleanups.push(
      () => redis.quit(),
      () => queue.close(),
      () => clearRedisPrefix(prefix),
    );
    const task = { kind: 'playbook' as const, incidentId: 7, opening: 0 };
    await enqueuePlaybookChecks(queue, task);
    const id = 'playbook-checks-7-0';
    // Its last attempt fails (Slack down for longer than its backoff lasts), and failed jobs are kept.
    const connection = createWorkerRedis(redisUrl());
    const worker = new Worker<HealthJob>(
      HEALTH_QUEUE,
      async () => {
        throw new UnrecoverableError('Slack is down');
      },
      { connection, prefix },
    );
    cleanups.push(
      () => connection.quit(),
      () => worker.close(),
    );
    await waitFor(
      async () => (await (await Job.fromId(queue, id))?.isFailed()) || undefined,
      5_000,
      'failed',
    );
    await worker.close();

    await enqueuePlaybookChecks(queue, task);
    expect(await (await Job.fromId(queue, id))!.isFailed()).toBe(true);
    await requeuePlaybookChecks(queue, task);
    await waitFor(
      async () => (await (await Job.fromId(queue, id))?.isWaiting()) || undefined,
      5_000,
      'waiting',
    );
  });
});
