import { Job } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ACTIONS_QUEUE, type ActionJob, enqueueAction, requeueAction } from '../../src/queues/actionJobs.js';
import { holdingWorker, queueOfItsOwn } from '../support/queues.js';
import { waitFor } from '../support/services.js';

describe("the sweep's requeue of an action request's job", () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    vi.restoreAllMocks();
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  const run = { kind: 'run' as const, requestId: 7 };

  it('queues again a run whose job failed, and leaves one running', async () => {
    let failing = true;
    const { queue } = queueOfItsOwn<ActionJob>(ACTIONS_QUEUE, cleanups);
    holdingWorker(queue, cleanups, () => failing);
    await enqueueAction(queue, run);
    await waitFor(async () => (await queue.getJobState('action-7')) === 'failed', 5_000, 'failed');
    failing = false;
    expect(await requeueAction(queue, run)).toBe(true);
    await waitFor(async () => (await queue.getJobState('action-7')) === 'active', 5_000, 'running again');
    expect(await requeueAction(queue, run)).toBe(false);
    expect((await Job.fromId(queue, 'action-7'))!.attemptsMade).toBe(0);
  });

  it.each(['failed', 'unknown'] as const)(
    'leaves a run to the worker that took it when the look saw it %s just before',
    async (seen) => {
      const { queue } = queueOfItsOwn<ActionJob>(ACTIONS_QUEUE, cleanups);
      holdingWorker(queue, cleanups);
      await enqueueAction(queue, run);
      await waitFor(async () => (await queue.getJobState('action-7')) === 'active', 5_000, 'taken');
      // Another process's sweep queued it again, and a worker took it, since this sweep looked.
      vi.spyOn(queue, 'getJobState').mockResolvedValueOnce(seen);
      expect(await requeueAction(queue, run)).toBe(false);
      expect(await queue.getJobState('action-7')).toBe('active');
    },
  );
});
