import { Queue } from 'bullmq';
import { Redis } from 'ioredis';

export const INCIDENT_SYNC_QUEUE = 'incident-sync';

export interface IncidentSyncJob {
  incidentId: number;
}

/** Redis for request handlers: fail fast when Redis is down, so the handler can answer 503 at once. */
export function createProducerRedis(url: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 3000,
    lazyConnect: false,
  });
}

/** Redis for workers: BullMQ's blocking commands need maxRetriesPerRequest null. */
export function createWorkerRedis(url: string): Redis {
  return new Redis(url, { maxRetriesPerRequest: null });
}

export function createQueue<T>(name: string, connection: Redis, prefix: string): Queue<T> {
  return new Queue<T>(name, { connection, prefix });
}

export function createIncidentSyncQueue(connection: Redis, prefix: string): Queue<IncidentSyncJob> {
  return createQueue<IncidentSyncJob>(INCIDENT_SYNC_QUEUE, connection, prefix);
}

/**
 * Asks a worker to bring the incident's Slack messages up to `version`. One job per version: a change
 * recorded while a sync runs gets a job of its own, so no change waits for the next delivery; adding the
 * same version twice is a no-op.
 */
export async function enqueueIncidentSync(
  queue: Queue<IncidentSyncJob>,
  incidentId: number,
  version: number,
): Promise<void> {
  await queue.add(
    'sync',
    { incidentId },
    {
      jobId: `incident-${incidentId}-v${version}`,
      attempts: 100,
      backoff: { type: 'capped-exponential' },
      removeOnComplete: true,
      removeOnFail: true,
    },
  );
}
