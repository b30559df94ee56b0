import type { Queue, Worker } from 'bullmq';
import type { Logger } from '../observability/logger.js';
import { keepSchedules, sweepSchedule } from './jobSchedules.js';
import { scheduleAt } from './queues.js';

export const PAGES_QUEUE = 'pages';

/** Jobs that make the pagers show what Postgres says of an incident (src/paging/pageSync.ts). */
export type PageJob =
  | { kind: 'sync'; incidentId: number }
  /** Periodic, and at worker start: pages that differ from their incident get a sync. */
  | { kind: 'sweep' };

// A failing page is retried by the job of its own retry time, not by BullMQ's attempts: these cover a
// database that did not answer.
const OPTIONS = {
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
  attempts: 5,
  backoff: { type: 'exponential', delay: 1000 },
};

/** The incident's one job that waits for a failing page's next try. */
export const pageRetryJobId = (incidentId: number) => `page-retry-${incidentId}`;

/**
 * The paging use case's `PageEffects`, carried out with queue jobs (it fits that interface structurally,
 * as QueuedIncidentEffects does). Each change gets a job of its own: a sync running while the change
 * commits could otherwise swallow its job and miss it.
 */
export class QueuedPageEffects {
  constructor(private readonly pages: Queue<PageJob>) {}

  async pagesChanged(incidentId: number): Promise<void> {
    await this.pages.add('sync', { kind: 'sync', incidentId }, OPTIONS);
  }

  /** Sweeps for pages out of step every `ms` (one schedule however many workers run) until `worker` closes. */
  sweepEvery(ms: number, worker: Pick<Worker, 'once'>, logger: Pick<Logger, 'warn'>): Promise<void> {
    return keepSchedules(this.pages, [sweepSchedule(ms)], worker, logger);
  }

  /** The incident's failing pages are next due at `at` (the soonest of their retry times). */
  retryAt(incidentId: number, at: Date): Promise<void> {
    const job: PageJob = { kind: 'sync', incidentId };
    return scheduleAt(this.pages, 'sync', job, { ...OPTIONS, jobId: pageRetryJobId(incidentId) }, at);
  }
}
