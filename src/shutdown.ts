import type { Worker } from 'bullmq';
import type { HttpServer } from './http/server.js';
import type { Logger } from './observability/logger.js';

/** Resolves true when `work` finished before `deadline` (a Date.now() value), false when it did not. */
export async function finishedBy(work: Promise<unknown>, deadline: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work.then(() => true as const), late]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Stops taking requests: /readyz answers 503 on connections still open, new connections are refused,
 * and requests already being handled are answered. Past the deadline every connection is cut.
 */
export async function closeServer(server: HttpServer, deadline: number, logger: Logger): Promise<void> {
  server.draining = true;
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  if (!(await finishedBy(closed, deadline))) {
    logger.warn('requests still open at the shutdown deadline; closing their connections');
    server.closeAllConnections();
    await closed;
  }
}

/** How long stopped drivers get to end and be recorded after the deadline; within main.ts's hard exit. */
const STOPPED_RUNS_GRACE_MS = 5000;

/**
 * When what is let go at a stop must be done by: the deadline, or a second from now when the closers
 * before it used the deadline up. Each waits that second at most past it, within main.ts's hard exit.
 */
export function atLeastASecondFrom(deadline: number): number {
  return Math.max(deadline, Date.now() + 1000);
}

/**
 * Lets running jobs finish, taking no new ones. At the deadline `stopRuns` stops the action drivers still
 * running, which then record themselves as interrupted, so a clean exit leaves no request `running`.
 * Other jobs still running then are left: their locks lapse and other workers take them up. Workers that
 * have not closed with no job running (`jobsRunning`) are left at once, most often waiting on a Redis
 * that does not answer (`redisAnswers` tells): the drivers are stopped all the same, for a job Redis hands
 * a worker while it still closes must not start one.
 */
export async function closeWorkers(
  workers: Worker[],
  deadline: number,
  logger: Logger,
  deps: { stopRuns: () => void; jobsRunning: () => Promise<number>; redisAnswers: () => Promise<boolean> },
): Promise<void> {
  const closing = Promise.all(workers.map((worker) => worker.close()));
  if (await finishedBy(closing, atLeastASecondFrom(deadline))) return;
  closing.catch(() => {});
  // Unknown counts as running: the drivers get their time.
  if ((await deps.jobsRunning().catch(() => 1)) === 0) {
    deps.stopRuns();
    const why = (await deps.redisAnswers()) ? '' : ': Redis is not answering';
    logger.warn(
      `the queue workers did not close by the shutdown deadline, with no job running${why}; stopping without them`,
    );
    return;
  }
  logger.warn('jobs still running at the shutdown deadline; stopping the action drivers');
  deps.stopRuns();
  if (!(await finishedBy(closing, Date.now() + STOPPED_RUNS_GRACE_MS)))
    logger.warn('jobs still running after the drivers were stopped; stopping without them');
}
