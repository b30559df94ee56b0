import { DelayedError, Job, type Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { findAction } from '../actions/catalog.js';
import { degradationsDue } from '../actions/degradation.js';
import { createDriver } from '../actions/drivers/index.js';
import { ServiceLock } from '../actions/serviceLock.js';
import type { Membership } from '../approvals/policy.js';
import {
  type ActionRequest,
  actionChangedSince,
  expireRequest,
  loadRequest,
  recordDryRun,
  requestsDue,
  waitingForService,
} from '../approvals/requests.js';
import { type RunNotifications, runApprovedRequest } from '../approvals/run.js';
import type { FileConfig } from '../config/file.js';
import type { IncidentEffects } from '../incidents/lifecycle.js';
import { addLogContext } from '../observability/logContext.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ACTIONS_QUEUE, type ActionJob, actionJobId, requeueAction } from '../queues/actionJobs.js';
import type { QueuedIncidentEffects } from '../queues/incidentTasks.js';
import { keepSchedules, sweepSchedule } from '../queues/jobSchedules.js';
import { enqueueActionMessageSync, type SlackSyncJob } from '../queues/queues.js';
import { instrumented } from './instrumented.js';

const SERVICE_BUSY_FIRST_WAIT_MS = 250;
const SERVICE_BUSY_MAX_WAIT_MS = 5000;
/** Dry runs, runs, expiries and sweeps at once; each run or dry run holds one client of `serviceLocks`. */
export const ACTIONS_CONCURRENCY = 8;
const SWEEP_EVERY_MS = 60_000;

export interface ActionsWorkerDeps {
  pool: pg.Pool;
  /**
   * Where a running driver holds its service's lock, for as long as it runs (minutes, for a roll-back):
   * ACTIONS_CONCURRENCY clients of their own, so that eight actions running leave the pool the commands,
   * clicks and other workers share whole. Sharing it, they left those two clients, and a burst of clicks
   * waited past its 1 s and was told the database was not answering.
   */
  serviceLocks: pg.Pool;
  config: FileConfig;
  membership: Membership;
  slackSync: Queue<SlackSyncJob>;
  actions: Queue<ActionJob>;
  effects: QueuedIncidentEffects;
  connection: Redis;
  prefix: string;
  metrics: Metrics;
  logger: Logger;
  /** How long a job's lock lasts without renewal: a dead worker's job is found stalled after this. */
  lockDurationMs: number;
  /** Aborts when the bot must stop now: running drivers are stopped and recorded as interrupted. */
  stopping: AbortSignal;
  /** The bot's own secrets: hidden from what a driver prints. */
  secrets: readonly string[];
}

/**
 * Runs dry runs, approved actions (src/approvals/run.ts: one at a time per service) and expiries, and
 * sweeps for requests whose job is gone.
 */
export async function startActionsWorker(deps: ActionsWorkerDeps): Promise<Worker<ActionJob>> {
  const { pool } = deps;
  const showRequest = async (request: ActionRequest) => {
    await enqueueActionMessageSync(deps.slackSync, request.id, request.version);
  };

  /**
   * The service is free again: the oldest job waiting for it (see waitForService) goes now, rather than at
   * the end of its wait (a dry run waiting out a failed attempt's backoff goes too). Jobs not waiting are
   * passed over: taken, failed or gone (the sweep queues those again). Best effort: a job not woken still
   * goes at the end of its wait.
   */
  const wakeNextWaiting = async (service: string) => {
    try {
      for (const waiting of await waitingForService(pool, service)) {
        const job = await Job.fromId(deps.actions, actionJobId(waiting));
        if (!job || !(await job.isDelayed())) continue;
        await promote(job);
        return;
      }
    } catch (err) {
      deps.logger.warn({ err, service }, 'could not wake the action waiting for its service');
    }
  };

  const notify: RunNotifications = {
    requestChanged: async (request) => {
      await showRequest(request);
      // Every move of a run is on its incident's timeline: the thread should tell it now.
      if (request.incidentId !== null) await bumpIncident(pool, deps.effects, request.incidentId);
    },
    degradationDue: (service, at) => deps.effects.degradationDue(service, at),
    serviceFreed: wakeNextWaiting,
  };

  const run = async (job: Job<ActionJob>, token: string | undefined, requestId: number) => {
    const request = await loadRequest(pool, requestId);
    if (request.incidentId !== null) addLogContext({ incidentId: request.incidentId });
    const ran = await runApprovedRequest(
      {
        pool,
        serviceLocks: deps.serviceLocks,
        config: deps.config,
        membership: deps.membership,
        notify,
        metrics: deps.metrics,
        logger: deps.logger,
        env: process.env,
        secrets: deps.secrets,
      },
      requestId,
      deps.stopping,
    );
    if (ran === 'busy') await waitForService(deps, job, token, request.service);
  };

  // A dry run takes the service's lock as a run does: a SQL dry run locks what it rehearses, and it must
  // not rehearse a change on a target another action is changing.
  const dryRun = async (job: Job<ActionJob>, token: string | undefined, requestId: number) => {
    const request = await loadRequest(pool, requestId);
    const definition = findAction(deps.config, request.service, request.action);
    if (request.dryRunStatus !== 'running') return;
    // Changed since the request: its dry run would show what nobody asked for, and the run would be refused.
    const refusal = definition
      ? actionChangedSince(request, definition, 'requested')
      : 'the action is no longer in the catalog';
    let result = { ok: false, summary: refusal ?? '', output: '' };
    if (definition && refusal === undefined) {
      const lock = await ServiceLock.tryAcquire(deps.serviceLocks, request.service);
      if (!lock) return waitForService(deps, job, token, request.service);
      let stopped: string | undefined;
      try {
        result = await createDriver(definition.driver).run({
          params: request.params,
          dryRun: true,
          timeoutMs: definition.timeout,
          signal: AbortSignal.any([lock.lost, deps.stopping, AbortSignal.timeout(definition.timeout + 5000)]),
          kill: lock.lost,
          env: process.env,
          secrets: deps.secrets,
        });
        stopped = deps.stopping.aborted
          ? 'the bot stopped'
          : lock.lost.aborted
            ? 'its service lock was lost'
            : undefined;
      } finally {
        await lock.release();
        await wakeNextWaiting(request.service);
      }
      // Stopped by the bot, not failed: a rehearsal changes nothing and is run again (the sweep queues it
      // while the request says it is to run), rather than the request failing when nobody rejected it.
      if (!result.ok && stopped) {
        deps.logger.info({ requestId, stopped }, 'dry run stopped before it ended; it runs again');
        return;
      }
    }
    await showRequest(
      await recordDryRun(pool, requestId, result.ok, `${result.summary}\n${result.output}`.trim()),
    );
  };

  /**
   * Postgres says what should be happening; this makes the queue agree. An approved request without a
   * run job, or a running one whose job is gone or finished (it threw, or Redis lost it), gets a run job:
   * beginRun then runs it or, for one whose driver had started, applies onInterrupted. It is never left
   * `running` with nobody running it.
   */
  const sweep = async () => {
    let resumed = 0;
    for await (const job of requestsDue(pool)) if (await requeueAction(deps.actions, job)) resumed++;
    // A degradation reminder lost with Redis, or never queued (the enqueue after the run failed), is
    // queued again: Postgres knows which services run degraded.
    for (const { service, dueAt } of await degradationsDue(
      pool,
      deps.config.actions.degradationReminderAfter,
    ))
      await deps.effects.degradationDue(service, dueAt);
    return resumed;
  };

  const processor = async (job: Job<ActionJob>, token?: string) => {
    const task = job.data;
    try {
      switch (task.kind) {
        case 'run':
          return await run(job, token, task.requestId);
        case 'dry-run':
          return await dryRun(job, token, task.requestId);
        case 'sweep':
          return { resumed: await sweep() };
        case 'expire':
          if (await expireRequest(pool, task.requestId))
            await showRequest(await loadRequest(pool, task.requestId));
          return;
      }
    } catch (err) {
      if (!(err instanceof DelayedError)) deps.logger.warn({ err, task, jobId: job.id }, 'action job failed');
      throw err;
    }
  };

  const worker = new Worker<ActionJob>(ACTIONS_QUEUE, instrumented(ACTIONS_QUEUE, deps, processor), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: ACTIONS_CONCURRENCY,
    lockDuration: deps.lockDurationMs,
    stalledInterval: deps.lockDurationMs,
    // A stalled run is handed to the next worker once; beginRun then decides whether it may run again.
    maxStalledCount: 1,
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'actions worker error'));
  await worker.waitUntilReady();
  await sweep();
  await keepSchedules(deps.actions, [sweepSchedule(SWEEP_EVERY_MS)], worker, deps.logger);
  return worker;
}

/**
 * Another action holds the service: the job waits, without using an attempt, until the one holding it
 * wakes it as it ends (wakeNextWaiting), or its wait is over. Each wait is twice the one before, from
 * SERVICE_BUSY_FIRST_WAIT_MS to SERVICE_BUSY_MAX_WAIT_MS, for a holder that died before waking anyone:
 * fifty runs waiting for one service, each tried every 250 ms, took more of the process than the runs did.
 */
async function waitForService(
  deps: { pool: pg.Pool; logger: Logger },
  job: Job<ActionJob>,
  token: string | undefined,
  service: string,
): Promise<never> {
  // attemptsStarted counts this try: the first wait is SERVICE_BUSY_FIRST_WAIT_MS.
  const waitMs = Math.min(
    SERVICE_BUSY_MAX_WAIT_MS,
    SERVICE_BUSY_FIRST_WAIT_MS * 2 ** Math.max(0, job.attemptsStarted - 1),
  );
  await job.moveToDelayed(Date.now() + waitMs, token);
  // The holder may have ended, and looked for jobs to wake, while this one was not yet waiting: then
  // nobody wakes it, and it goes now. One of the two looks sees the other, as the holder gives the lock
  // back before it looks. Looked once this try is over: BullMQ stops renewing a job's lock by its id as
  // the try ends, and would stop renewing it for the next try too, were that one already under way.
  setImmediate(() => {
    void (async () => {
      if (!(await ServiceLock.isTaken(deps.pool, service))) await promote(job);
    })().catch((err: unknown) =>
      deps.logger.warn({ err, service }, 'could not look whether the service the action waits for is free'),
    );
  });
  throw new DelayedError();
}

/** Sends a waiting job on now. One no longer waiting (taken meanwhile) is on its way all the same. */
async function promote(job: Job<ActionJob>): Promise<void> {
  await job.promote().catch(async (err: unknown) => {
    if (await job.isDelayed()) throw err;
  });
}

/** The incident's timeline gained entries: Slack should show them. */
async function bumpIncident(pool: pg.Pool, effects: IncidentEffects, incidentId: number): Promise<void> {
  const { rows } = await pool.query<{ version: number }>(
    'UPDATE incidents SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING version',
    [incidentId],
  );
  if (rows[0]) await effects.changed(incidentId, rows[0].version);
}
