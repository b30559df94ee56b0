import { type Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ESCALATION_QUEUE,
  type EscalationJob,
  scheduleEscalationStep,
  stopEscalation,
} from '../../src/queues/escalationJobs.js';
import { createQueue, createWorkerRedis } from '../../src/queues/queues.js';
import { clearRedisPrefix, redisUrl, uniquePrefix, waitFor } from '../support/services.js';

describe('stopping an incident’s escalation', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('leaves a step a worker took between the listing and the removal to find Postgres changed', async () => {
    const prefix = uniquePrefix();
    const redis = createWorkerRedis(redisUrl());
    const queue = createQueue<EscalationJob>(ESCALATION_QUEUE, redis, prefix);
    cleanups.push(
      () => redis.quit(),
      () => queue.close(),
      () => clearRedisPrefix(prefix),
    );
    await scheduleEscalationStep(queue, { incidentId: 7, opening: 0, step: 1 }, new Date());

    let release = () => {};
    const running = new Promise<void>((r) => {
      release = r;
    });
    // The step falls due just as it is acknowledged: a worker takes it once it is listed.
    const racing: Queue<EscalationJob> = Object.assign(Object.create(queue) as Queue<EscalationJob>, {
      getJobs: async (...args: Parameters<Queue<EscalationJob>['getJobs']>) => {
        const jobs = await queue.getJobs(...args);
        const connection = createWorkerRedis(redisUrl());
        const worker = new Worker<EscalationJob>(ESCALATION_QUEUE, () => running, { connection, prefix });
        cleanups.push(
          () => connection.quit(),
          async () => {
            release();
            await worker.close();
          },
        );
        await waitFor(async () => (await queue.getJobCounts('active')).active === 1, 20_000, 'taken');
        return jobs;
      },
    });

    await expect(stopEscalation(racing, 7)).resolves.toBeUndefined();
  });
});
