import type { Queue, Worker } from 'bullmq';
import type { Logger } from '../observability/logger.js';

/** How often a worker's process looks for its queue's schedules in Redis (keepSchedules). */
const KEPT_EVERY_MS = 60_000;

/** A job every `every` ms, one for the whole deployment however many workers run; `id` is also its name. */
export interface Schedule<T> {
  id: string;
  every: number;
  data: T;
}

/** A queue's sweep (a job `{ kind: 'sweep' }`) every `every` ms. */
export const sweepSchedule = (every: number) => ({ id: 'sweep', every, data: { kind: 'sweep' as const } });

/**
 * Puts `queue`'s schedules in Redis now (BullMQ job schedulers), and every `keptEveryMs` until `worker`
 * closes puts back any gone, or whose next run is. A Redis that loses its data (a failover to a replica
 * that was behind, a restart without persistence) loses the schedules with the jobs: the sweeps that find
 * lost jobs again in PostgreSQL would then never run until a worker restarted. (A worker's call landing
 * just after the loss can leave a schedule's record without its next run.) One that is whole is left as it
 * is: put again, its run already waiting would go to the back of the wait list, behind a backlog, at every
 * turn of every process. (A start puts them all, a changed `every` with them: a waiting run goes to the
 * back once.) A look or a put that fails (Redis away) is logged and tried again at the next turn.
 */
export async function keepSchedules<T>(
  queue: Queue<T, unknown, string, T, unknown, string>,
  schedules: ReadonlyArray<Schedule<T>>,
  worker: Pick<Worker, 'once'>,
  logger: Pick<Logger, 'warn'>,
  keptEveryMs = KEPT_EVERY_MS,
): Promise<void> {
  const put = (schedule: Schedule<T>) =>
    queue.upsertJobScheduler(
      schedule.id,
      { every: schedule.every },
      { name: schedule.id, data: schedule.data, opts: { removeOnComplete: true, removeOnFail: true } },
    );
  // BullMQ names a schedule's run by the schedule and the time it is for (getSchedulerNextJobId), and
  // makes the next as one begins: a run it points to that has ended, or is gone, is one with none after.
  const whole = async (schedule: Schedule<T>) => {
    const there = await queue.getJobScheduler(schedule.id);
    if (there?.next === undefined) return false;
    const state = await queue.getJobState(`repeat:${schedule.id}:${there.next}`);
    if (state !== 'unknown' && state !== 'completed' && state !== 'failed') return true;
    // Between the two looks, that run may have begun and ended, the next made as it began.
    const again = await queue.getJobScheduler(schedule.id);
    return again?.next !== undefined && again.next !== there.next;
  };
  for (const schedule of schedules) await put(schedule);
  const timer = setInterval(() => {
    for (const schedule of schedules)
      whole(schedule)
        .then((isWhole) => (isWhole ? undefined : put(schedule)))
        .catch((err: unknown) =>
          logger.warn(
            { err, schedule: schedule.id },
            'a queue schedule was not put back in Redis; tried again later',
          ),
        );
  }, keptEveryMs);
  timer.unref();
  worker.once('closing', () => clearInterval(timer));
}
