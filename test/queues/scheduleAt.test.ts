import { DelayedError, ErrorCode, Job, type Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { MAX_RETRY_WAIT_MS } from '../../src/queues/backoff.js';
import { createQueue, createWorkerRedis, scheduleAt } from '../../src/queues/queues.js';
import { clearRedisPrefix, redisUrl, uniquePrefix, waitFor } from '../support/services.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

const queueOfItsOwn = () => {
  const prefix = uniquePrefix();
  const redis = createWorkerRedis(redisUrl());
  const queue = createQueue<{ n: number }>('schedule-at', redis, prefix);
  cleanups.push(
    () => redis.quit(),
    () => queue.close(),
    () => clearRedisPrefix(prefix),
  );
  return { queue, redis };
};

const at = (ms: number) => new Date(Date.now() + ms);

/** The job 'j', run by a worker: completed, kept by its id. */
async function finishedJob(queue: Queue<{ n: number }>): Promise<void> {
  await queue.add('step', { n: 1 }, { jobId: 'j' });
  const worker = new Worker('schedule-at', async () => {}, {
    connection: createWorkerRedis(redisUrl()),
    prefix: queue.opts.prefix!,
  });
  cleanups.push(() => worker.close());
  await new Promise((resolve) => worker.once('completed', resolve));
}

describe('scheduleAt', () => {
  it('moves a waiting job to its new time', async () => {
    const { queue } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, at(3_600_000));
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, at(60_000));
    const job = await Job.fromId(queue, 'j');
    expect(job!.delay).toBeLessThanOrEqual(60_000);
  });

  it('moves a job waiting for its time in one round trip to Redis', async () => {
    const { queue, redis } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 3_600_000));
    const sent = vi.spyOn(redis, 'sendCommand');
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 60_000));
    expect(sent).toHaveBeenCalledTimes(1);
    expect((await Job.fromId(queue, 'j'))!.delay).toBeLessThanOrEqual(60_000);
  });

  it('adds a job there is none of in two round trips: the move refused, then the add', async () => {
    const { queue, redis } = queueOfItsOwn();
    // Past what a queue's first commands send: BullMQ asks for Redis's version and loads each script.
    await scheduleAt(queue, 'step', { n: 0 }, { jobId: 'another' }, new Date(Date.now() + 60_000));
    const sent = vi.spyOn(redis, 'sendCommand');
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 60_000));
    expect(sent).toHaveBeenCalledTimes(2);
    expect(await (await Job.fromId(queue, 'j'))!.getState()).toBe('delayed');
  });

  it('adds a new job (`newJob`: its id was never added) in one round trip, without the move', async () => {
    const { queue, redis } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 0 }, { jobId: 'another' }, new Date(Date.now() + 60_000));
    const sent = vi.spyOn(redis, 'sendCommand');
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 60_000), {
      newJob: true,
    });
    expect(sent).toHaveBeenCalledTimes(1);
    const job = await Job.fromId(queue, 'j');
    expect(await job!.getState()).toBe('delayed');
    expect(job!.delay).toBeGreaterThan(50_000);
  });

  it('leaves a job of the same id as it is with `newJob`: only the sweeps, which look, move it', async () => {
    const { queue } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, at(3_600_000));
    await scheduleAt(queue, 'step', { n: 2 }, { jobId: 'j' }, at(60_000), { newJob: true });
    const job = await Job.fromId(queue, 'j');
    expect(job!.data).toEqual({ n: 1 });
    expect(job!.delay).toBeGreaterThan(3_000_000);
  });

  it('throws what the move met other than a refusal, Redis unreachable among them', async () => {
    const { queue } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 3_600_000));
    vi.spyOn(Job.prototype, 'changeDelay').mockRejectedValueOnce(new Error('Connection is closed.'));
    await expect(
      scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 60_000)),
    ).rejects.toThrow('Connection is closed.');
  });

  it('adds again a job that has finished', async () => {
    const { queue } = queueOfItsOwn();
    await finishedJob(queue);
    await scheduleAt(queue, 'step', { n: 2 }, { jobId: 'j' }, new Date(Date.now() + 60_000));
    const job = await Job.fromId(queue, 'j');
    expect(job!.data).toEqual({ n: 2 });
    expect(await job!.getState()).toBe('delayed');
  });

  it('leaves alone a job that fell due just before its move: it runs now and reads Postgres', async () => {
    const { queue } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 3_600_000));
    const changeDelay = Job.prototype.changeDelay;
    vi.spyOn(Job.prototype, 'changeDelay').mockImplementationOnce(async function (this: Job, delay: number) {
      await this.promote();
      return changeDelay.call(this, delay);
    });
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 60_000));
    expect(await (await Job.fromId(queue, 'j'))!.getState()).toBe('waiting');
  });

  it('leaves alone a job back to waiting for its time whose time comes between its look and its move', async () => {
    const { queue } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 3_600_000));
    const changeDelay = Job.prototype.changeDelay;
    vi.spyOn(Job.prototype, 'changeDelay')
      // The move tried first found it not waiting for its time (a retry on its way back to it)…
      .mockRejectedValueOnce(Object.assign(new Error('not delayed'), { code: ErrorCode.JobNotInState }))
      // …and its time comes just after the look saw it waiting for it.
      .mockImplementationOnce(async function (this: Job, delay: number) {
        await this.promote();
        return changeDelay.call(this, delay);
      });
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 60_000));
    expect(await (await Job.fromId(queue, 'j'))!.getState()).toBe('waiting');
  });
});

describe('scheduleAt, sparing retries (a sweep)', () => {
  it("leaves a job waiting out a retry's backoff where it is", async () => {
    const { queue } = queueOfItsOwn();
    await queue.add(
      'step',
      { n: 1 },
      { jobId: 'j', attempts: 2, backoff: { type: 'fixed', delay: MAX_RETRY_WAIT_MS } },
    );
    const worker = new Worker(
      'schedule-at',
      async () => {
        throw new Error('Slack is down');
      },
      { connection: createWorkerRedis(redisUrl()), prefix: queue.opts.prefix! },
    );
    cleanups.push(() => worker.close());
    await new Promise((resolve) => worker.once('failed', resolve));
    await waitFor(async () => (await queue.getJobState('j')) === 'delayed', 5_000, 'the retry waiting');
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, at(0), { sparingRetries: true });
    const job = await Job.fromId(queue, 'j');
    expect(await job!.getState()).toBe('delayed');
    expect(job!.attemptsMade).toBe(1);
    expect(job!.delay).toBeGreaterThan(MAX_RETRY_WAIT_MS - 60_000);
  });

  it('moves a job that failed once and has since put itself back for a later run', async () => {
    const { queue } = queueOfItsOwn();
    await queue.add('step', { n: 1 }, { jobId: 'j', attempts: 2, backoff: { type: 'fixed', delay: 10 } });
    const worker = new Worker(
      'schedule-at',
      async (job, token) => {
        if (job.attemptsMade === 0) throw new Error('PostgreSQL blinked');
        // Its run done, it waits for its next, as a reminder does (runAgainAt).
        await job.moveToDelayed(Date.now() + 3_600_000, token);
        throw new DelayedError();
      },
      { connection: createWorkerRedis(redisUrl()), prefix: queue.opts.prefix! },
    );
    cleanups.push(() => worker.close());
    await waitFor(
      async () => (await Job.fromId(queue, 'j'))!.delay > 3_500_000,
      5_000,
      'the job waiting for its next run',
    );
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, at(60_000), { sparingRetries: true });
    const job = await Job.fromId(queue, 'j');
    expect(job!.attemptsMade).toBe(1);
    expect(job!.delay).toBeLessThanOrEqual(60_000);
  });

  it('moves a job that never failed to its time, an earlier one too: one left late by a failed move', async () => {
    const { queue } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, at(3_600_000));
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, at(60_000), { sparingRetries: true });
    expect((await Job.fromId(queue, 'j'))!.delay).toBeLessThanOrEqual(60_000);
  });

  it('adds a job there is none of, and again one that has finished', async () => {
    const { queue } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'k' }, at(60_000), { sparingRetries: true });
    expect(await (await Job.fromId(queue, 'k'))!.getState()).toBe('delayed');
    await finishedJob(queue);
    await scheduleAt(queue, 'step', { n: 2 }, { jobId: 'j' }, at(60_000), { sparingRetries: true });
    const job = await Job.fromId(queue, 'j');
    expect(job!.data).toEqual({ n: 2 });
    expect(await job!.getState()).toBe('delayed');
  });
});
