import { type Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ESCALATION_QUEUE,
  type EscalationJob,
  scheduleEscalationStep,
  stopEscalation,
} from '../../src/queues/escalationJobs.js';
import { createWorkerRedis } from '../../src/queues/queues.js';
import { queueOfItsOwn } from '../support/queues.js';
import { redisUrl, waitFor } from '../support/services.js';

describe('stopping an incident’s escalation', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** An escalation queue under a prefix of its own, closed and cleared after the test. */
  const escalationQueue = () => queueOfItsOwn<EscalationJob>(ESCALATION_QUEUE, cleanups);

  it("drops the incident's waiting steps, of every opening, due or not, and no other incident's", async () => {
    const { queue } = escalationQueue();
    const later = new Date(Date.now() + 3_600_000);
    // Incident 7's ids share their first digit with 70's and 17's last: only its own go.
    for (const incidentId of [70, 17, 7, 8, 71])
      await scheduleEscalationStep(queue, { incidentId, opening: 0, step: 1 }, later);
    await scheduleEscalationStep(queue, { incidentId: 7, opening: 1, step: 0 }, new Date());
    await scheduleEscalationStep(queue, { incidentId: 8, opening: 1, step: 0 }, new Date());

    await stopEscalation(queue, 7);

    const left = await queue.getJobs(['delayed', 'waiting', 'prioritized']);
    expect(left.map((job) => job.id).sort()).toEqual([
      'step-17-0-1',
      'step-70-0-1',
      'step-71-0-1',
      'step-8-0-1',
      'step-8-1-0',
    ]);
  });

  it('leaves a step a worker took between the listing and the removal to find Postgres changed', async () => {
    const { queue, prefix } = escalationQueue();
    await scheduleEscalationStep(queue, { incidentId: 7, opening: 0, step: 1 }, new Date());

    let release = () => {};
    const running = new Promise<void>((r) => {
      release = r;
    });
    // The step falls due just as it is acknowledged: a worker takes it once it is listed.
    const racing: Queue<EscalationJob> = Object.assign(Object.create(queue) as Queue<EscalationJob>, {
      getRanges: async (...args: Parameters<Queue<EscalationJob>['getRanges']>) => {
        const jobs = await queue.getRanges(...args);
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
