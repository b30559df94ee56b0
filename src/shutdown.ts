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
 * Lets running jobs finish, taking no new ones. At the deadline `stopRuns` stops the action drivers still
 * running, which then record themselves as interrupted, so a clean exit leaves no request `running`.
 * Other jobs still running then are left: their locks lapse and other workers take them up. Workers that
 * have not closed with no job running (`jobsRunning`) wait on Redis, which is not answering: nothing is
 * left to stop, and they are left at the deadline.
 */
export async function closeWorkers(
  workers: Worker[],
  deadline: number,
  logger: Logger,
  { stopRuns, jobsRunning }: { stopRuns: () => void; jobsRunning: () => Promise<number> },
): Promise<void> {
  const closing = Promise.all(workers.map((worker) => worker.close()));
  if (await finishedBy(closing, deadline)) return;
  closing.catch(() => {});
  if ((await jobsRunning()) === 0) {
    logger.warn(
      'the queue workers did not close by the shutdown deadline: Redis is not answering, and no job is running; stopping without them',
    );
    return;
  }
  logger.warn('jobs still running at the shutdown deadline; stopping the action drivers');
  stopRuns();
  if (!(await finishedBy(closing, Date.now() + STOPPED_RUNS_GRACE_MS)))
    logger.warn('jobs still running after the drivers were stopped; stopping without them');
}
