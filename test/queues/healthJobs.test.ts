import { Job, UnrecoverableError, Worker } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CAPPED_BACKOFF } from '../../src/queues/backoff.js';
import {
  enqueueHealthCheck,
  enqueuePlaybookChecks,
  HEALTH_QUEUE,
  type HealthJob,
  requeuePlaybookChecks,
} from '../../src/queues/healthJobs.js';
import { createWorkerRedis } from '../../src/queues/queues.js';
import { holdingWorker, queueOfItsOwn } from '../support/queues.js';
import { redisUrl, waitFor } from '../support/services.js';

describe('a playbook’s checks job', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it("keeps trying through hours of an outage, as a requested check's job does: the sweep looks back 15 minutes", async () => {
    const { queue } = queueOfItsOwn<HealthJob>(HEALTH_QUEUE, cleanups);
    await enqueuePlaybookChecks(queue, { kind: 'playbook', incidentId: 7, opening: 0 });
    await enqueueHealthCheck(queue, { kind: 'requested', requestId: 1 });
    const [playbook, requested] = await Promise.all(
      ['playbook-checks-7-0', 'health-request-1'].map(async (id) => (await Job.fromId(queue, id))!.opts),
    );
    // A hundred tries, each within 5 minutes of the last (cappedExponentialBackoff): hours.
    expect(playbook).toMatchObject({ attempts: 100, backoff: CAPPED_BACKOFF });
    expect(playbook).toMatchObject({ attempts: requested!.attempts, backoff: requested!.backoff });
  });

  it('is left to the worker that took it when the sweep saw it failed just before', async () => {
    const { queue } = queueOfItsOwn<HealthJob>(HEALTH_QUEUE, cleanups);
    holdingWorker(queue, cleanups);
    const task = { kind: 'playbook' as const, incidentId: 7, opening: 0 };
    await enqueuePlaybookChecks(queue, task);
    await waitFor(async () => (await queue.getJobState('playbook-checks-7-0')) === 'active', 5_000, 'taken');
    // The sweep's look found it failed; another process's sweep queued it again and a worker took it since.
    vi.spyOn(queue, 'getJobState').mockResolvedValueOnce('failed');
    vi.spyOn(Job.prototype, 'isFailed').mockResolvedValueOnce(true);
    await requeuePlaybookChecks(queue, task);
    expect(await queue.getJobState('playbook-checks-7-0')).toBe('active');
  });

  it('is queued again by the sweep after it failed every attempt, where a plain add would do nothing', async () => {
    const { queue, prefix } = queueOfItsOwn<HealthJob>(HEALTH_QUEUE, cleanups);
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
