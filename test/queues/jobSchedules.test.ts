import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { keepSchedules } from '../../src/queues/jobSchedules.js';
import { createQueue, createWorkerRedis } from '../../src/queues/queues.js';
import { clearRedisPrefix, redisUrl, uniquePrefix, waitFor } from '../support/services.js';

const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/** A queue of its own and a worker counting the runs of its schedule 'sweep'. */
async function sweptQueue() {
  const prefix = uniquePrefix();
  const redis = createWorkerRedis(redisUrl());
  const queue = createQueue<{ kind: string }>('schedules', redis, prefix);
  const runs = { count: 0 };
  const worker = new Worker(
    'schedules',
    async () => {
      runs.count += 1;
    },
    { connection: createWorkerRedis(redisUrl()), prefix },
  );
  // Keys deleted under it can fail BullMQ's own add of a schedule's next run: an error it emits.
  worker.on('error', () => {});
  cleanups.push(
    () => redis.quit(),
    () => queue.close(),
    () => clearRedisPrefix(prefix),
    () => worker.close(),
  );
  await worker.waitUntilReady();
  const failures: unknown[] = [];
  const keep = async (every: number, keptEveryMs: number) => {
    await keepSchedules(
      queue,
      [{ id: 'sweep', every, data: { kind: 'sweep' } }],
      worker,
      { warn: (line: unknown) => failures.push(line) },
      keptEveryMs,
    );
  };
  return { prefix, queue, redis, worker, runs, keep, failures };
}

describe('keepSchedules', () => {
  it('runs a schedule again after Redis lost it with every job', async () => {
    const { prefix, runs, keep, failures } = await sweptQueue();
    await keep(100, 300);
    await waitFor(() => runs.count >= 2, 10_000, 'the schedule to run');
    await clearRedisPrefix(prefix);
    const before = runs.count;
    // Put once, as the workers did, it ran no more: nothing put the schedule back.
    await waitFor(() => runs.count >= before + 2, 10_000, 'the schedule to run again');
    expect(failures).toEqual([]);
  });

  it('puts back a schedule whose next run is gone', async () => {
    const { queue, redis, runs, keep } = await sweptQueue();
    await keep(2000, 100);
    await waitFor(() => runs.count >= 1, 10_000, 'the first run');
    const next = (await queue.getJobScheduler('sweep'))!.next;
    const run = `repeat:sweep:${next}`;
    expect(await queue.getJobState(run)).toBe('delayed');
    // Its run gone, the schedule's record left: as a worker's call landing just after a loss leaves it.
    await redis.multi().zrem(queue.toKey('delayed'), run).del(queue.toKey(run)).exec();
    const before = runs.count;
    await waitFor(() => runs.count > before, 10_000, 'the schedule to run again');
  });

  it('leaves a schedule that is there as it is', async () => {
    const { queue, runs, keep } = await sweptQueue();
    const put = vi.spyOn(queue, 'upsertJobScheduler');
    const started = Date.now();
    // Looked for every 50 ms: put again, its waiting run would go to the back of the wait list each time.
    await keep(500, 50);
    await waitFor(() => runs.count >= 3, 10_000, 'runs while the schedule is looked for');
    expect(put).toHaveBeenCalledTimes(1);
    expect(runs.count).toBeLessThanOrEqual((Date.now() - started) / 500 + 2);
  });

  it('stops looking once its worker closes', async () => {
    const { queue, worker, keep } = await sweptQueue();
    await keep(500, 50);
    const looks = vi.spyOn(queue, 'getJobScheduler');
    await waitFor(() => looks.mock.calls.length > 0, 10_000, 'a look');
    await worker.close();
    const after = looks.mock.calls.length;
    await new Promise((r) => setTimeout(r, 300));
    expect(looks.mock.calls.length).toBe(after);
  });

  it('puts every schedule the workers have', () => {
    // One put once, at a worker's start, is gone for good with Redis's data.
    const src = new URL('../../src', import.meta.url).pathname;
    const putting = (readdirSync(src, { recursive: true }) as string[]).filter(
      (file) => file.endsWith('.ts') && readFileSync(join(src, file), 'utf8').includes('upsertJobScheduler'),
    );
    expect(putting).toEqual(['queues/jobSchedules.ts']);
  });
});
