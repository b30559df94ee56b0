import { DelayedError, type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { Pager } from '../pagers/pager.js';
import { incidentsWithPagesOutOfStep, retryRefusedPages, syncIncidentPages } from '../paging/pageSync.js';
import { PAGES_QUEUE, type PageJob, pageRetryJobId, type QueuedPageEffects } from '../queues/pageJobs.js';
import { runAgainAt } from './incidentTasksWorker.js';
import { instrumented } from './instrumented.js';

const SWEEP_EVERY_MS = 60_000;
const SWEEP_LIMIT = 1000;

export interface PagesWorkerDeps {
  pool: pg.Pool;
  pagers: Readonly<Record<string, Pager>>;
  pageEffects: QueuedPageEffects;
  /** Slack must come to show the incident's `version`. */
  incidentChanged(incidentId: number, version: number): Promise<void>;
  connection: Redis;
  prefix: string;
  metrics: Metrics;
  logger: Logger;
}

/**
 * Sends pages (src/paging/pageSync.ts), and sweeps for pages out of step whose job is gone: at start,
 * then every minute. At start, refused pages get one more try.
 */
export async function startPagesWorker(deps: PagesWorkerDeps): Promise<Worker<PageJob>> {
  const { pool, pageEffects } = deps;
  const sweep = async () => {
    const incidents = await incidentsWithPagesOutOfStep(pool, SWEEP_LIMIT);
    for (const incidentId of incidents) await pageEffects.pagesChanged(incidentId);
    return incidents.length;
  };

  const processor = async (job: Job<PageJob>, token?: string) => {
    const task = job.data;
    try {
      if (task.kind === 'sweep') return { resumed: await sweep() };
      const { retryAt } = await syncIncidentPages(deps, task.incidentId);
      if (!retryAt) return;
      // The retry job moves itself on; any other hands the retry to it.
      if (job.id === pageRetryJobId(task.incidentId)) return await runAgainAt(job, token, retryAt);
      await pageEffects.retryAt(task.incidentId, retryAt);
    } catch (err) {
      if (!(err instanceof DelayedError)) deps.logger.warn({ err, task, jobId: job.id }, 'page job failed');
      throw err;
    }
  };

  const worker = new Worker<PageJob>(PAGES_QUEUE, instrumented(PAGES_QUEUE, deps, processor), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: 8,
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'pages worker error'));
  await worker.waitUntilReady();
  await retryRefusedPages(pool);
  await sweep();
  await pageEffects.sweepEvery(SWEEP_EVERY_MS, worker, deps.logger);
  return worker;
}
