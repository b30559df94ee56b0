import { DelayedError, Job, type Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { type ActionDefinition, findAction } from '../actions/catalog.js';
import { recordDegradation } from '../actions/degradation.js';
import { createDriver } from '../actions/drivers/index.js';
import { isApprover, type Membership } from '../approvals/policy.js';
import {
  type ActionRequest,
  actionChangedSince,
  beginRun,
  expireRequest,
  finishRun,
  loadRequest,
  loadVotes,
  recordDryRun,
} from '../approvals/requests.js';
import type { FileConfig } from '../config/file.js';
import type { IncidentEffects } from '../incidents/lifecycle.js';
import { addLogContext } from '../observability/logContext.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { ACTIONS_QUEUE, type ActionJob, actionJobId, enqueueAction } from '../queues/actionJobs.js';
import type { QueuedIncidentEffects } from '../queues/incidentTasks.js';
import { enqueueActionMessageSync, type SlackSyncJob } from '../queues/queues.js';
import { instrumented } from './instrumented.js';

const SERVICE_BUSY_RETRY_MS = 250;
const SWEEP_EVERY_MS = 60_000;

export interface ActionsWorkerDeps {
  pool: pg.Pool;
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
}

/**
 * Runs dry runs, approved actions and expiries. One action at a time per service (a Postgres advisory
 * lock held while the driver runs); the policy is checked again before running, because the catalog or
 * group membership may have changed since the votes.
 */
export async function startActionsWorker(deps: ActionsWorkerDeps): Promise<Worker<ActionJob>> {
  const { pool } = deps;
  const showRequest = async (request: ActionRequest) => {
    await enqueueActionMessageSync(deps.slackSync, request.id, request.version);
  };

  const stillApproved = async (request: ActionRequest, definition: ActionDefinition) => {
    const votes = await loadVotes(pool, request.id);
    let valid = 0;
    for (const vote of votes) {
      if (vote.decision !== 'approve') continue;
      if (vote.userId === request.requestedBy && !definition.approval.allowSelfApproval) continue;
      // A group not read yet leaves the vote as it was checked when cast.
      if (isApprover(definition.approval, vote.userId, deps.membership) !== false) valid++;
    }
    return valid >= definition.approval.required;
  };

  const run = async (job: Job<ActionJob>, token: string | undefined, requestId: number) => {
    const request = await loadRequest(pool, requestId);
    if (request.incidentId !== null) addLogContext({ incidentId: request.incidentId });
    const definition = findAction(deps.config, request.service, request.action);
    const client = await pool.connect();
    let locked = false;
    try {
      const lock = await client.query<{ locked: boolean }>(
        "SELECT pg_try_advisory_lock(hashtext('incident-bot:service'), hashtext($1)) AS locked",
        [request.service],
      );
      locked = lock.rows[0]!.locked;
      if (!locked) {
        await job.moveToDelayed(Date.now() + SERVICE_BUSY_RETRY_MS, token);
        throw new DelayedError();
      }
      const begun = await beginRun(pool, requestId, definition?.onInterrupted ?? 'fail');
      await showRequest(begun.request);
      // Every move above and below wrote the incident's timeline: Slack shows it after this job.
      if (begun.request.incidentId !== null) await bumpIncident(pool, deps.effects, begun.request.incidentId);
      if (!begun.run) {
        // Found running: its worker stopped mid-run, and onInterrupted failed it.
        if (request.status === 'running' && begun.request.status === 'failed')
          deps.metrics.actionRuns.inc({ outcome: 'interrupted' });
        return;
      }
      const refuse = (summary: string) => {
        deps.metrics.actionRuns.inc({ outcome: 'refused' });
        return finishRun(pool, begun.request, { ok: false, summary, output: '' });
      };
      const changed = definition && actionChangedSince(begun.request, definition, 'approved');
      let finished: ActionRequest;
      if (!definition) finished = await refuse('the action is no longer in the catalog');
      else if (changed) finished = await refuse(changed);
      // Approved in time but queued past the window (behind other actions on the service): too stale to run.
      else if (begun.request.expired)
        finished = await refuse('its approval window closed before it could start; request it again');
      else if (!(await stillApproved(begun.request, definition)))
        finished = await refuse('the approvals no longer satisfy the policy');
      else {
        const result = await createDriver(definition.driver).run({
          params: begun.request.params,
          dryRun: false,
          timeoutMs: definition.timeout,
          signal: AbortSignal.timeout(definition.timeout + 5000),
          env: process.env,
        });
        finished = await finishRun(pool, begun.request, result);
        deps.metrics.actionRuns.inc({ outcome: finished.status });
        if (result.ok && definition.kind === 'degradation') {
          await recordDegradation(pool, finished, definition.degradation!);
          if (definition.degradation === 'enable') {
            const due = new Date(Date.now() + deps.config.actions.degradationReminderAfter);
            await deps.effects.degradationDue(finished.service, due);
          }
        }
      }
      await showRequest(finished);
      if (finished.incidentId !== null) await bumpIncident(pool, deps.effects, finished.incidentId);
    } finally {
      if (locked) {
        await client
          .query("SELECT pg_advisory_unlock(hashtext('incident-bot:service'), hashtext($1))", [
            request.service,
          ])
          .catch(() => {});
      }
      client.release();
    }
  };

  const dryRun = async (requestId: number) => {
    const request = await loadRequest(pool, requestId);
    const definition = findAction(deps.config, request.service, request.action);
    if (request.dryRunStatus !== 'running') return;
    // Changed since the request: its dry run would show what nobody asked for, and the run would be refused.
    const refusal = definition
      ? actionChangedSince(request, definition, 'requested')
      : 'the action is no longer in the catalog';
    const result =
      definition && refusal === undefined
        ? await createDriver(definition.driver).run({
            params: request.params,
            dryRun: true,
            timeoutMs: definition.timeout,
            signal: AbortSignal.timeout(definition.timeout + 5000),
            env: process.env,
          })
        : { ok: false, summary: refusal!, output: '' };
    await showRequest(
      await recordDryRun(pool, requestId, result.ok, `${result.summary}\n${result.output}`.trim()),
    );
  };

  /**
   * Postgres says what should be happening; this makes the queue agree. An approved request without a
   * run job, or a running one whose job is gone or finished (it threw, or Redis lost it), gets a run job:
   * beginRun then runs it or, for one that was running, applies onInterrupted. It is never left
   * `running` with nobody running it.
   */
  const sweep = async () => {
    const { rows } = await pool.query<{ id: number; status: string; expired: boolean; dry: string }>(
      `SELECT id::int AS id, status, expires_at <= now() AS expired, dry_run_status AS dry FROM action_requests
        WHERE status IN ('pending', 'approved', 'running') ORDER BY id LIMIT 1000`,
    );
    let resumed = 0;
    for (const request of rows) {
      const job: ActionJob | undefined =
        request.status === 'pending'
          ? request.expired
            ? { kind: 'expire', requestId: request.id }
            : request.dry === 'running'
              ? { kind: 'dry-run', requestId: request.id }
              : undefined
          : { kind: 'run', requestId: request.id };
      if (!job) continue;
      const existing = await Job.fromId(deps.actions, actionJobId(job));
      const state = existing ? await existing.getState() : 'missing';
      if (state === 'active' || state === 'waiting' || state === 'delayed' || state === 'prioritized')
        continue;
      if (existing) await existing.remove();
      await enqueueAction(deps.actions, job);
      resumed++;
    }
    return resumed;
  };

  const processor = async (job: Job<ActionJob>, token?: string) => {
    const task = job.data;
    try {
      switch (task.kind) {
        case 'run':
          return await run(job, token, task.requestId);
        case 'dry-run':
          return await dryRun(task.requestId);
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
    concurrency: 8,
    lockDuration: deps.lockDurationMs,
    stalledInterval: deps.lockDurationMs,
    // A stalled run is handed to the next worker once; beginRun then applies onInterrupted.
    maxStalledCount: 1,
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'actions worker error'));
  await worker.waitUntilReady();
  await sweep();
  await deps.actions.upsertJobScheduler(
    'sweep',
    { every: SWEEP_EVERY_MS },
    { name: 'sweep', data: { kind: 'sweep' }, opts: { removeOnComplete: true, removeOnFail: true } },
  );
  return worker;
}

/** The incident's timeline gained entries: Slack should show them. */
async function bumpIncident(pool: pg.Pool, effects: IncidentEffects, incidentId: number): Promise<void> {
  const { rows } = await pool.query<{ version: number }>(
    'UPDATE incidents SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING version',
    [incidentId],
  );
  if (rows[0]) await effects.changed(incidentId, rows[0].version);
}
