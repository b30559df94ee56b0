import type pg from 'pg';
import { type ActionDefinition, findAction } from '../actions/catalog.js';
import { createDriver } from '../actions/drivers/index.js';
import { ServiceLock } from '../actions/serviceLock.js';
import { isTransientDbError } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { isAmong, type Membership } from './policy.js';
import {
  type ActionRequest,
  actionChangedSince,
  beginRun,
  finishRun,
  loadRequest,
  loadVotes,
  markDriverStarted,
  returnToApproved,
} from './requests.js';

/**
 * Runs an approved request's action, once, and records what happened whatever fails around it.
 *
 * The record turns on one step, markDriverStarted, written before the driver may start: a run that
 * fails before it gives the request back (approved), to run again; a run that dies after it is never
 * started again unless its action is idempotent. Once the driver returns, its outcome is stored with
 * retries until it lands. What follows (the approval message, the incident's thread, the degradation
 * reminder) is told best-effort: each is reconciled from Postgres, so it can never decide an outcome.
 */

export interface RunDeps {
  pool: pg.Pool;
  /** Where the service's lock is held while the driver runs (ActionsWorkerDeps.serviceLocks). */
  serviceLocks: pg.Pool;
  config: {
    services: Readonly<Record<string, { actions: readonly ActionDefinition[] }>>;
    actions: { degradationReminderAfter: number };
  };
  membership: Membership;
  /** The changes others must hear of; best-effort, as each is reconciled. */
  notify: RunNotifications;
  metrics: Metrics;
  logger: Logger;
  /** The environment drivers read (settings' env vars), not process.env directly. */
  env: Record<string, string | undefined>;
  /** The bot's own secrets: hidden from what a driver prints. */
  secrets: readonly string[];
}

export interface RunNotifications {
  /** The request moved: its approval message, and its incident's thread (the move is on its timeline). */
  requestChanged(request: ActionRequest): Promise<void>;
  /** The run gave its service's lock back: what waits for the service may go. Never throws. */
  serviceFreed(service: string): Promise<void>;
  degradationDue(service: string, at: Date): Promise<void>;
}

const RECORD_RETRY_MAX_MS = 10_000;

/**
 * 'busy' when another run holds the service: try again shortly. `stopping` aborts when the process must
 * stop: the driver is stopped and the run recorded as interrupted.
 */
export async function runApprovedRequest(
  deps: RunDeps,
  requestId: number,
  stopping: AbortSignal,
): Promise<'busy' | 'done'> {
  const { pool } = deps;
  const request = await loadRequest(pool, requestId);
  if (request.status !== 'approved' && request.status !== 'running') return 'done';
  const definition = findAction(deps.config, request.service, request.action);
  const lock = await ServiceLock.tryAcquire(deps.serviceLocks, request.service);
  if (!lock) return 'busy';
  try {
    // Run again after its driver started only as approved: retry, idempotent, and the action unchanged.
    const rerunStarted =
      definition?.onInterrupted === 'retry' &&
      definition.idempotent &&
      actionChangedSince(request, definition, 'approved') === undefined;
    const begun = await beginRun(pool, requestId, rerunStarted);
    await tell(deps, () => deps.notify.requestChanged(begun.request));
    if (!begun.run) {
      if (request.status === 'running' && begun.request.status === 'failed')
        deps.metrics.actionRuns.inc({ outcome: 'interrupted' });
      return 'done';
    }
    await runClaimed(deps, begun.request, definition, lock, stopping);
    return 'done';
  } finally {
    await lock.release();
    await deps.notify.serviceFreed(request.service);
  }
}

async function runClaimed(
  deps: RunDeps,
  request: ActionRequest,
  definition: ActionDefinition | undefined,
  lock: ServiceLock,
  stopping: AbortSignal,
): Promise<void> {
  let driverStarted = false;
  try {
    const refusal = await refusalOf(deps, request, definition);
    if (refusal !== undefined || !definition) {
      deps.metrics.actionRuns.inc({ outcome: 'refused' });
      await settle(deps, request, { ok: false, summary: refusal ?? '', output: '' });
      return;
    }
    // Stopped or unlocked before the driver could start: nothing happened, the request is approved again.
    if (lock.lost.aborted) throw lock.lost.reason;
    if (stopping.aborted) throw new Error('the bot is stopping');
    if (!(await markDriverStarted(deps.pool, request))) return;
    driverStarted = true;
    const result = await createDriver(definition.driver).run({
      params: request.params,
      dryRun: false,
      timeoutMs: definition.timeout,
      signal: AbortSignal.any([lock.lost, stopping, AbortSignal.timeout(definition.timeout + 5000)]),
      kill: lock.lost,
      env: deps.env,
      secrets: deps.secrets,
    });
    // Stopped from outside before it finished: nobody knows how far it got. A driver that finished anyway
    // (the stop came during its last step) says what it did.
    const interruption = result.ok
      ? undefined
      : lock.lost.aborted
        ? (lock.lost.reason as Error).message
        : stopping.aborted
          ? 'the bot stopped before it finished (SHUTDOWN_TIMEOUT)'
          : undefined;
    if (interruption) deps.metrics.actionRuns.inc({ outcome: 'interrupted' });
    const outcome = interruption
      ? {
          ...result,
          ok: false,
          summary: `interrupted: ${interruption}; the driver was stopped. Check the target before requesting it again`,
        }
      : result;
    const finished = await settle(deps, request, outcome, definition.degradation);
    if (!interruption) deps.metrics.actionRuns.inc({ outcome: finished.status });
    if (finished.status === 'succeeded' && definition.degradation === 'enable') {
      const due = new Date(Date.now() + deps.config.actions.degradationReminderAfter);
      await tell(deps, () => deps.notify.degradationDue(finished.service, due));
    }
  } catch (err) {
    // Nothing touched the target: the request is approved again, and the sweep runs it.
    if (!driverStarted)
      await returnToApproved(deps.pool, request, (err as Error).message).catch((cause) =>
        deps.logger.warn(
          { err: cause, requestId: request.id },
          'could not give back a run that did not start',
        ),
      );
    throw err;
  }
}

/** Why an approved request must not run now, or undefined. */
async function refusalOf(
  deps: RunDeps,
  request: ActionRequest,
  definition: ActionDefinition | undefined,
): Promise<string | undefined> {
  if (!definition) return 'the action is no longer in the catalog';
  const changed = actionChangedSince(request, definition, 'approved');
  if (changed) return changed;
  // Approved in time but queued past the window (behind other actions on the service): too stale to run.
  if (request.expired) return 'its approval window closed before it could start; request it again';
  if (!(await stillApproved(deps, request, definition))) return 'the approvals no longer satisfy the policy';
  return undefined;
}

/** The policy is checked again: the catalog or group membership may have changed since the votes. */
async function stillApproved(deps: RunDeps, request: ActionRequest, definition: ActionDefinition) {
  const votes = await loadVotes(deps.pool, request.id);
  let valid = 0;
  for (const vote of votes) {
    if (vote.decision !== 'approve') continue;
    if (vote.userId === request.requestedBy && !definition.approval.allowSelfApproval) continue;
    // A group not read yet leaves the vote as it was checked when cast.
    if (isAmong(definition.approval.approvers, vote.userId, deps.membership) !== false) valid++;
  }
  return valid >= definition.approval.required;
}

/**
 * Stores the outcome, trying again while the database is away (a failover, a cut): an outcome known here
 * and lost would leave the request `running`, to be recorded as interrupted. Then tells Slack.
 */
async function settle(
  deps: RunDeps,
  request: ActionRequest,
  result: Parameters<typeof finishRun>[2],
  degradation?: 'enable' | 'disable',
): Promise<ActionRequest> {
  for (let attempt = 0; ; attempt++) {
    try {
      const finished = await finishRun(deps.pool, request, result, degradation);
      await tell(deps, () => deps.notify.requestChanged(finished));
      return finished;
    } catch (err) {
      if (!isTransientDbError(err)) throw err;
      const wait = Math.min(RECORD_RETRY_MAX_MS, 250 * 2 ** attempt);
      deps.logger.warn(
        { err, requestId: request.id, waitMs: wait },
        'could not record the outcome; retrying',
      );
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }
}

/** A notification that fails is logged: Postgres has the truth, and the reconcile passes retell it. */
async function tell(deps: RunDeps, notification: () => Promise<void>): Promise<void> {
  await notification().catch((err) =>
    deps.logger.warn({ err }, 'could not pass on a change of an action run; it is reconciled later'),
  );
}
