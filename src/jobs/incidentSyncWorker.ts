import { DelayedError, type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { incidentsBehindSlack } from '../incidents/incidentStore.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { SlackRateLimitedError, SlackRejectedError } from '../slack/errors.js';
import { type ProjectionDeps, SyncBusyError, syncIncident } from '../slack/projection.js';
import { enqueueIncidentSync, INCIDENT_SYNC_QUEUE, type IncidentSyncJob } from './queues.js';

const RECONCILE_EVERY_MS = 60_000;
const BUSY_RETRY_MS = 500;
const MAX_BACKOFF_MS = 5 * 60_000;

/** 1 s, 2 s, 4 s… capped at 5 minutes, with jitter so that recovering workers do not stampede Slack. */
export function cappedExponentialBackoff(attemptsMade: number): number {
  const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}

export interface IncidentSyncWorkerDeps extends ProjectionDeps {
  queue: Queue<IncidentSyncJob>;
  connection: Redis;
  prefix: string;
  metrics: Metrics;
  logger: Logger;
  concurrency?: number;
}

/**
 * Runs Slack syncs from the queue. Slack's limits and outages only delay a job; an incident whose
 * messages fall behind for any other reason (Redis lost its jobs, a job gave up) is found again by the
 * reconcile pass, which runs at start and then every minute as a scheduled job.
 */
export async function startIncidentSyncWorker(
  deps: IncidentSyncWorkerDeps,
): Promise<Worker<IncidentSyncJob>> {
  const reconcile = async () => {
    const behind = await incidentsBehindSlack(deps.pool, 1000);
    for (const incident of behind) await enqueueIncidentSync(deps.queue, incident.id, incident.version);
    return behind.length;
  };

  const processor = async (job: Job<IncidentSyncJob>, token?: string) => {
    if (job.name === 'reconcile') return { enqueued: await reconcile() };
    const started = performance.now();
    try {
      const result = await syncIncident(deps, job.data.incidentId);
      deps.metrics.jobDuration.observe(
        { queue: INCIDENT_SYNC_QUEUE, outcome: 'ok' },
        (performance.now() - started) / 1000,
      );
      return result;
    } catch (err) {
      deps.metrics.jobDuration.observe(
        { queue: INCIDENT_SYNC_QUEUE, outcome: 'error' },
        (performance.now() - started) / 1000,
      );
      if (err instanceof SlackRateLimitedError || err instanceof SyncBusyError) {
        // Waiting for a rate limit or another syncer is not a failure: it does not use up an attempt.
        const wait = err instanceof SyncBusyError ? BUSY_RETRY_MS : err.waitMs;
        await job.moveToDelayed(Date.now() + wait, token);
        throw new DelayedError();
      }
      if (err instanceof SlackRejectedError) {
        deps.logger.error(
          { err, incidentId: job.data.incidentId, jobId: job.id },
          'Slack refused an incident sync',
        );
        throw new UnrecoverableError(err.message);
      }
      deps.logger.warn(
        { err, incidentId: job.data.incidentId, jobId: job.id, attempt: job.attemptsMade + 1 },
        'incident sync failed; will retry',
      );
      throw err;
    }
  };

  const worker = new Worker<IncidentSyncJob>(INCIDENT_SYNC_QUEUE, processor, {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: deps.concurrency ?? 8,
    settings: { backoffStrategy: cappedExponentialBackoff },
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'incident sync worker error'));
  await worker.waitUntilReady();
  await reconcile();
  await deps.queue.upsertJobScheduler(
    'reconcile',
    { every: RECONCILE_EVERY_MS },
    { name: 'reconcile', data: { incidentId: 0 }, opts: { removeOnComplete: true, removeOnFail: true } },
  );
  return worker;
}
