import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';

export const HEALTH_QUEUE = 'health-checks';

/** Run these services' checks and post the result where they were asked for. */
export interface HealthJob {
  services: string[];
  channelId: string;
  threadTs?: string;
  requestedBy: string;
  /** The incident they were run for: its timeline records them. */
  incidentId?: number;
}

/**
 * `requestKey` names the Slack request that asked (its trigger_id): an add repeated for it while the job
 * waits, one that failed as far as we could tell but reached Redis, queues nothing more.
 */
export async function enqueueHealthCheck(
  queue: Queue<HealthJob>,
  job: HealthJob,
  requestKey?: string,
): Promise<void> {
  await queue.add('check', job, {
    // BullMQ refuses a custom job id holding ':'.
    jobId: `health-${requestKey?.replaceAll(':', '-') ?? randomUUID()}`,
    removeOnComplete: true,
    removeOnFail: { count: 100 },
    attempts: 3,
  });
}
