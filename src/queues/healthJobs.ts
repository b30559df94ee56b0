import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';

export const HEALTH_QUEUE = 'health-checks';

/** Run these services' checks and post the result where they were asked for. */
export interface HealthJob {
  services: string[];
  channelId: string;
  threadTs?: string;
  requestedBy: string;
}

export async function enqueueHealthCheck(queue: Queue<HealthJob>, job: HealthJob): Promise<void> {
  await queue.add('check', job, {
    jobId: `health-${randomUUID()}`,
    removeOnComplete: true,
    removeOnFail: { count: 100 },
    attempts: 3,
  });
}
