import { DelayedError, type Job, type Queue, UnrecoverableError, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { checkEveryMs, checkHeartbeat, gapsBehindSlack } from '../alerts/heartbeat.js';
import { syncHeartbeatGap } from '../alerts/heartbeatProjection.js';
import { requestsBehindSlack, syncActionMessage } from '../approvals/projection.js';
import type { FileConfig } from '../config/file.js';
import { isDatabaseOutOfReach } from '../db/pool.js';
import { SyncBusyError } from '../db/syncLock.js';
import { incidentsBehindSlack } from '../incidents/incidentStore.js';
import { type ProjectionDeps, syncIncident } from '../incidents/projection.js';
import type { Logger } from '../observability/logger.js';
import { cappedExponentialBackoff } from '../queues/backoff.js';
import { IncidentSyncVersions } from '../queues/incidentSyncVersions.js';
import { keepSchedules, type Schedule } from '../queues/jobSchedules.js';
import {
  enqueueActionMessageSync,
  enqueueHeartbeatGapSync,
  enqueueIncidentSync,
  SLACK_SYNC_QUEUE,
  type SlackSyncJob,
} from '../queues/queues.js';
import {
  SlackOutcomePendingError,
  SlackRateLimitedError,
  SlackRejectedError,
  SlackUnavailableError,
} from '../slack/errors.js';
import { instrumented } from './instrumented.js';
import { SlackProbe } from './slackProbe.js';

const RECONCILE_EVERY_MS = 60_000;
const BUSY_RETRY_MS = 500;
// While the database is away a sync is tried again on a short, steady interval, not with a backoff that
// grows with the outage: Slack catches up within seconds of its return, however long it was gone.
const DATABASE_RETRY_MS = 2000;

/**
 * How long a sync that failed with `err` waits before it is tried again, using no attempt: undefined for
 * a failure that uses one. A rate limit, another syncer, a post's outcome still unknown and a database
 * out of reach (away, or every client of the pool busy) are waits, not failures.
 */
export function waitToRetry(err: unknown): number | undefined {
  if (err instanceof SyncBusyError) return BUSY_RETRY_MS;
  if (err instanceof SlackRateLimitedError || err instanceof SlackOutcomePendingError) return err.waitMs;
  if (isDatabaseOutOfReach(err)) return DATABASE_RETRY_MS;
  return undefined;
}

export interface SlackSyncWorkerDeps extends ProjectionDeps {
  // The whole file: incidents' and approvals' projections each read their own parts of it.
  config: FileConfig;
  queue: Queue<SlackSyncJob>;
  connection: Redis;
  prefix: string;
  logger: Logger;
  concurrency?: number;
}

/**
 * Runs Slack projections from the queue. Slack's limits and outages only delay a job (and the probe
 * ends the delay as soon as Slack answers again); messages that fall
 * behind for any other reason (Redis lost its jobs, a job gave up) are found again by the reconcile
 * pass, which runs at start and then every minute as a scheduled job. With a heartbeat in the config,
 * its check is scheduled here too: it decides when Slack is told that alerting is silent, or back.
 */
export async function startSlackSyncWorker(deps: SlackSyncWorkerDeps): Promise<Worker<SlackSyncJob>> {
  const probe = new SlackProbe({
    redis: deps.connection,
    prefix: deps.prefix,
    slack: deps.slack,
    queue: deps.queue,
    logger: deps.logger,
  });
  const versions = new IncidentSyncVersions(deps.connection, deps.prefix, deps.queue);
  const projection = { ...deps, rootGone: (incidentId: number) => versions.forget(incidentId) };
  const reconcile = async () => {
    const incidents = await incidentsBehindSlack(deps.pool, 1000);
    for (const incident of incidents)
      await enqueueIncidentSync(deps.queue, incident.id, incident.version, { skipIfCovered: false });
    const requests = await requestsBehindSlack(deps.pool, 1000);
    for (const request of requests) await enqueueActionMessageSync(deps.queue, request.id, request.version);
    const gaps = await gapsBehindSlack(deps.pool, 1000);
    for (const gap of gaps) await enqueueHeartbeatGapSync(deps.queue, gap.id, gap.news);
    return incidents.length + requests.length + gaps.length;
  };

  const checkAlerting = async () => {
    const { heartbeat } = deps.config;
    // Scheduled by a replica whose config has a heartbeat, run by one whose config has none.
    if (!heartbeat) return { ended: 0, found: 0 };
    const { ended, found } = await checkHeartbeat(deps.pool, heartbeat, deps.config.slack.defaultChannel);
    for (const gapId of ended) {
      deps.logger.info({ gapId, alertname: heartbeat.alertname }, 'the alerting pipeline is back');
      await enqueueHeartbeatGapSync(deps.queue, gapId, 'back');
    }
    for (const gapId of found) {
      deps.logger.warn(
        { gapId, alertname: heartbeat.alertname, expectEveryMs: heartbeat.expectEvery },
        'the alerting pipeline is silent: the heartbeat alert did not arrive in time',
      );
      await enqueueHeartbeatGapSync(deps.queue, gapId, 'missing');
    }
    return { ended: ended.length, found: found.length };
  };

  const sync = async (task: SlackSyncJob) => {
    switch (task.kind) {
      case 'incident': {
        // Shown already, or a newer job will read what this one would: nothing to read.
        const slackShows =
          task.version === undefined ? undefined : await versions.compare(task.incidentId, task.version);
        if (slackShows === 'shown' || slackShows === 'newer queued')
          return { slackCalls: 0, covered: slackShows };
        const result = await syncIncident(projection, task.incidentId, {
          rootBehind: slackShows === 'older shown',
        });
        if (result.version !== undefined) await versions.shown(task.incidentId, result.version);
        if (result.channelRefusal) {
          deps.logger.warn(
            { incidentId: task.incidentId, slackError: result.channelRefusal },
            "Slack would not let the bot post in the incident's channel; it is shown in the default channel",
          );
        }
        // Only a sync that brought Slack up to date measures the lag; one that found it so does not.
        if (result.changedAt && result.slackCalls > 0)
          deps.metrics.slackSyncLag.observe(Math.max(0, Date.now() - result.changedAt.getTime()) / 1000);
        return result;
      }
      case 'action-request':
        return syncActionMessage(deps, task.requestId);
      case 'heartbeat-gap':
        return { posted: await syncHeartbeatGap(deps, task.gapId) };
      case 'reconcile':
        return { enqueued: await reconcile() };
      case 'heartbeat-check':
        return checkAlerting();
    }
  };

  const processor = async (job: Job<SlackSyncJob>, token?: string) => {
    // A sync that failed before is backing off from Slack's failure only until it ends otherwise.
    const settled = async () => {
      if (job.attemptsMade > 0 && job.id) await probe.settled(job.id).catch(() => {});
    };
    try {
      const result = await sync(job.data);
      await settled();
      return result;
    } catch (err) {
      const wait = waitToRetry(err);
      if (wait !== undefined) {
        deps.logger.debug({ err, jobId: job.id, waitMs: wait }, 'Slack sync waits');
        await settled();
        await job.moveToDelayed(Date.now() + wait, token);
        throw new DelayedError();
      }
      if (err instanceof SlackUnavailableError && job.id) await probe.slackFailed(job.id).catch(() => {});
      else await settled();
      if (err instanceof SlackRejectedError) {
        deps.logger.error({ err, job: job.data, jobId: job.id }, 'Slack refused a sync');
        throw new UnrecoverableError(err.message);
      }
      deps.logger.warn(
        { err, job: job.data, jobId: job.id, attempt: job.attemptsMade + 1 },
        'Slack sync failed; will retry',
      );
      throw err;
    }
  };

  const worker = new Worker<SlackSyncJob>(SLACK_SYNC_QUEUE, instrumented(SLACK_SYNC_QUEUE, deps, processor), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: deps.concurrency ?? 8,
    settings: { backoffStrategy: cappedExponentialBackoff },
    // A sync whose worker died is taken up again within ~15 s rather than ~60 s (BullMQ's defaults): the
    // restarted bot's reconcile uses the same job id, so nothing moves until the dead worker's lock ends.
    // The lock is renewed every 5 s while a sync runs.
    lockDuration: 10_000,
    stalledInterval: 5_000,
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'Slack sync worker error'));
  worker.on('closing', () => void probe.stop());
  await worker.waitUntilReady();
  probe.start();
  await reconcile();
  const schedules: Array<Schedule<SlackSyncJob>> = [
    { id: 'reconcile', every: RECONCILE_EVERY_MS, data: { kind: 'reconcile' } },
  ];
  if (deps.config.heartbeat)
    schedules.push({
      id: 'heartbeat-check',
      every: checkEveryMs(deps.config.heartbeat.expectEvery),
      data: { kind: 'heartbeat-check' },
    });
  else await deps.queue.removeJobScheduler('heartbeat-check');
  await keepSchedules(deps.queue, schedules, worker, deps.logger);
  return worker;
}
