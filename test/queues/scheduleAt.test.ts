import { Job } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createQueue, createWorkerRedis, scheduleAt } from '../../src/queues/queues.js';
import { clearRedisPrefix, redisUrl, uniquePrefix } from '../support/services.js';

describe('scheduleAt', () => {
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

  it('moves a waiting job to its new time', async () => {
    const { queue } = queueOfItsOwn();
    const at = (ms: number) => new Date(Date.now() + ms);
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

  it('leaves alone a job that fell due between its look and its move: it runs now and reads Postgres', async () => {
    const { queue } = queueOfItsOwn();
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 3_600_000));
    // The job's time comes just after scheduleAt saw it waiting for it.
    const changeDelay = Job.prototype.changeDelay;
    vi.spyOn(Job.prototype, 'changeDelay').mockImplementationOnce(async function (this: Job, delay: number) {
      await this.promote();
      return changeDelay.call(this, delay);
    });
    await scheduleAt(queue, 'step', { n: 1 }, { jobId: 'j' }, new Date(Date.now() + 60_000));
    expect(await (await Job.fromId(queue, 'j'))!.getState()).toBe('waiting');
  });
});
