import { Job, UnrecoverableError, Worker } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { CAPPED_BACKOFF } from '../../src/queues/backoff.js';
import {
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

  it('keeps trying for about an hour of an outage, past the 15 minutes the sweep looks back', async () => {
    const { queue } = queueOfItsOwn<HealthJob>(HEALTH_QUEUE, cleanups);
    await enqueuePlaybookChecks(queue, { kind: 'playbook', incidentId: 7, opening: 0 });
    const { attempts, backoff } = (await Job.fromId(queue, 'playbook-checks-7-0'))!.opts;
    expect(backoff).toEqual(CAPPED_BACKOFF);
    // The waits between its tries, at their shortest (the backoff's jitter is ±20%).
    let waited = 0;
    for (let tried = 1; tried < attempts!; tried++)
      waited += Math.min(300_000, 1000 * 2 ** (tried - 1)) * 0.8;
    expect(waited).toBeGreaterThan(45 * 60_000);
    expect(waited).toBeLessThan(2 * 3_600_000);
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
