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

/**
 * Lets running jobs finish, taking no new ones. A job still running at the deadline is left: its lock
 * lapses, another worker finds it stalled, and an action applies its onInterrupted policy.
 */
export async function closeWorkers(workers: Worker[], deadline: number, logger: Logger): Promise<void> {
  const closing = Promise.all(workers.map((worker) => worker.close()));
  if (!(await finishedBy(closing, deadline))) {
    logger.warn('jobs still running at the shutdown deadline; stopping without them');
    closing.catch(() => {});
  }
}
