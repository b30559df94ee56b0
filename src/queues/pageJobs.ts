import { Job, type Queue } from 'bullmq';

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

  /** The incident's failing pages are next due at `at` (the soonest of their retry times). */
  async retryAt(incidentId: number, at: Date): Promise<void> {
    const delay = Math.max(0, at.getTime() - Date.now());
    const existing = await Job.fromId(this.pages, pageRetryJobId(incidentId));
    if (existing) {
      const state = await existing.getState();
      if (state === 'delayed') return existing.changeDelay(delay);
      // A waiting or running retry tries every due page of the incident and schedules the next itself.
      if (state === 'active' || state === 'waiting' || state === 'prioritized') return;
      await existing.remove(); // finished or failed: make room for the new one
    }
    await this.pages.add(
      'sync',
      { kind: 'sync', incidentId },
      { ...OPTIONS, jobId: pageRetryJobId(incidentId), delay },
    );
  }
}
