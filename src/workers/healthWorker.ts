import { DelayedError, type Job, type Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { FileConfig } from '../config/file.js';
import { isTransientDbError } from '../db/pool.js';
import { findPostIntent } from '../db/slackPostIntents.js';
import { healthRecord, runChecks } from '../health/checks.js';
import {
  claimGivenUpNotice,
  claimShownToAsker,
  endHealthRequest,
  type HealthRequest,
  type HealthResult,
  healthRequestsDue,
  keepHealthResult,
  type PendingHealthRequest,
  pendingHealthRequest,
  recordHealthFailure,
  recordOlderRequest,
  releaseGivenUpNotice,
} from '../health/requests.js';
import { addTimelineEntries } from '../incidents/timeline.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import {
  type AutoChecksPlan,
  autoChecksDue,
  planAutoChecks,
  recordAutoChecks,
} from '../playbooks/autoChecks.js';
import { cappedExponentialBackoff } from '../queues/backoff.js';
import {
  HEALTH_QUEUE,
  type HealthJob,
  type PlaybookChecks,
  type RequestedChecks,
  requeueHealthCheck,
  requeuePlaybookChecks,
} from '../queues/healthJobs.js';
import { isTransientQueueError } from '../queues/queues.js';
import type { TemplateSet } from '../render/templates.js';
import {
  SlackOutcomePendingError,
  SlackRateLimitedError,
  SlackRejectedError,
  SlackUnavailableError,
} from '../slack/errors.js';
import { postOnce } from '../slack/postOnce.js';
import type { SlackRateLimiter } from '../slack/rateLimiter.js';
import type { SlackApi } from '../slack/slackApi.js';
import { type HealthView, healthNotShownText, healthView } from '../views/health.js';
import { instrumented } from './instrumented.js';

export interface HealthWorkerDeps {
  pool: pg.Pool;
  config: FileConfig;
  slack: SlackApi;
  limiter: SlackRateLimiter;
  templates: TemplateSet;
  queue: Queue<HealthJob>;
  connection: Redis;
  prefix: string;
  metrics: Metrics;
  logger: Logger;
}

// A playbook's checks whose job was lost are found again within this long, if their incident opened
// within SWEEP_BACK_MS: later than that, checks run "as it opened" would tell of another moment. So are
// requested checks not yet posted, however old: whoever asked was told their result would follow.
const SWEEP_EVERY_MS = 60_000;
const SWEEP_BACK_MS = 15 * 60_000;
// The incident's root message is not in Slack yet (its thread is where the result goes), or the incident
// holding the service's window has not shown its result. The wait grows with the time the incident has
// been open, so a long Slack outage in a storm is not every incident's job polling every 2 s.
const WAIT_MIN_MS = 2_000;
const WAIT_MAX_MS = 60_000;
const waitMs = (openForMs: number) => Math.min(WAIT_MAX_MS, Math.max(WAIT_MIN_MS, openForMs / 10));
// Tries of a request that fail other than through an outage (a template override that breaks on its
// result, a fault of the bot's): a few, 1 s, 2 s, 4 s and 8 s apart (the job's backoff), in case it was
// passing after all; then the request is given up.
const MAX_FAILED_TRIES = 5;

/** Slack, PostgreSQL or Redis away: waited out however long it lasts, never counted against a request. */
const isOutage = (err: unknown) =>
  err instanceof SlackUnavailableError || isTransientDbError(err) || isTransientQueueError(err);

/** Waits without using an attempt: this job runs again after `ms`. */
async function waitFor(job: Job<HealthJob>, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + ms, token);
  throw new DelayedError();
}

/**
 * Runs health checks off the request path and posts the templated result where they were asked for; and
 * a playbook's auto checks, in the thread of the incident that opened.
 */
export async function startHealthWorker(deps: HealthWorkerDeps): Promise<Worker<HealthJob>> {
  const slack = { slack: deps.slack, limiter: deps.limiter, limits: deps.config.slack.rateLimits };

  const requested = async (job: Job<HealthJob>, token: string | undefined, task: RequestedChecks) => {
    try {
      await showRequested(job, token, task);
    } catch (err) {
      if (err instanceof DelayedError || isOutage(err)) throw err;
      await failedTry(job, token, task.requestId, err);
    }
  };

  // Counted on the request, so that a job the sweep queues anew goes on counting: thrown again (the job's
  // backoff) until the last, which gives the request up, logs why and tells who asked.
  const failedTry = async (
    job: Job<HealthJob>,
    token: string | undefined,
    requestId: number,
    err: unknown,
  ) => {
    const error = err instanceof Error ? err.message : String(err);
    const outcome = await recordHealthFailure(deps.pool, requestId, error, MAX_FAILED_TRIES);
    if (!outcome) return;
    if ('tryAgain' in outcome) {
      deps.logger.warn({ err, requestId }, 'a health check result could not be shown; it is tried again');
      throw err;
    }
    deps.logger.error(
      { err, requestId, channel: outcome.givenUp.channelId },
      'a health check result could not be shown; the request is given up',
    );
    await tellGivenUp(job, token, requestId);
  };

  // Once, and through a Slack outage: the request stays due until it is told (the sweep queues it again).
  // At most once per claim, as an ephemeral cannot be looked up: one that Slack did not take (it answered
  // 5xx or 429, or did not answer) is sent again, one it refused is dropped.
  const tellGivenUp = async (job: Job<HealthJob>, token: string | undefined, requestId: number) => {
    const request = await claimGivenUpNotice(deps.pool, requestId);
    if (!request) return;
    try {
      await deps.slack.postEphemeral({
        channel: request.channelId,
        user: request.requestedBy,
        ...(request.threadTs ? { threadTs: request.threadTs } : {}),
        text: healthNotShownText(request.services, request.error),
      });
    } catch (err) {
      if (err instanceof SlackRejectedError) {
        deps.logger.warn(
          { err, requestId },
          'Slack refused telling who asked that their health check is given up',
        );
        return;
      }
      await releaseGivenUpNotice(deps.pool, requestId);
      if (err instanceof SlackRateLimitedError) return waitFor(job, token, err.waitMs);
      throw err;
    }
  };

  const showRequested = async (job: Job<HealthJob>, token: string | undefined, task: RequestedChecks) => {
    const request = await pendingHealthRequest(deps.pool, task.requestId);
    // Posted already, or refused; or given up, who asked maybe not told yet.
    if (!request) return tellGivenUp(job, token, task.requestId);
    // An incident's result goes in its thread, which needs its root message first.
    if ('waitingForRoot' in request.place) return waitFor(job, token, waitMs(request.place.waitingForRoot));
    const { threadTs } = request.place;
    // Kept once run: a retry posts the same result, and records what a message found in Slack shows.
    const health = request.result ?? (await runRequested(request));
    if (!request.result) await keepHealthResult(deps.pool, request.id, health);
    const view = healthView({ user: request.requestedBy }, health, request.incidentId);
    const message = deps.templates.renderMessage('health-result', view);
    const client = await deps.pool.connect();
    try {
      await postOnce(
        slack,
        client,
        {
          eventType: 'health_result',
          subjectId: request.id,
          channel: request.channelId,
          ...(threadTs ? { threadTs } : {}),
          version: 1,
          payload: { health_request_id: request.id },
          message,
        },
        async (posted) => {
          if (request.incidentId !== undefined)
            await addTimelineEntries(
              client,
              request.incidentId,
              health.map(({ service, result }) => ({
                kind: 'health_check' as const,
                actor: request.requestedBy,
                data: healthRecord(service, result),
              })),
              posted.ts,
            );
          await endHealthRequest(client, request.id);
        },
      );
    } catch (err) {
      if (err instanceof SlackRateLimitedError) {
        const turn = Date.now() + err.waitMs;
        // Nothing of this try reached Slack: the checks run again at the channel's turn, unless an earlier
        // try's message may be there to be found, showing the result kept.
        if (!(await findPostIntent(client, 'health_result', request.id)))
          await keepHealthResult(client, request.id, null);
        // Claimed on the row even for a job of an older version that says it was shown (on its data then).
        if ((await claimShownToAsker(client, request.id)) && !task.shownToAsker)
          await showToAsker(request, { ...view, askerOnly: true });
        return waitFor(job, token, Math.max(0, turn - Date.now()));
      }
      if (err instanceof SlackOutcomePendingError) return waitFor(job, token, err.waitMs);
      // Slack will not take it there (a channel the bot is not in, an archived one): trying again for hours
      // changes nothing.
      if (!(err instanceof SlackRejectedError)) throw err;
      deps.logger.warn({ err, requestId: request.id }, 'Slack refused a health check result; it is dropped');
      await endHealthRequest(client, request.id);
    } finally {
      client.release();
    }
  };

  const runRequested = (request: PendingHealthRequest): Promise<HealthResult> =>
    Promise.all(
      request.services.map(async (service) => {
        const checks = deps.config.services[service]?.checks ?? [];
        const wanted = request.checks;
        return {
          service,
          result: await runChecks(wanted ? checks.filter((c) => wanted.includes(c.name)) : checks, {
            env: process.env,
            labels: request.labels,
          }),
        };
      }),
    );

  // Who asked sees this result now, while the message for everyone waits for the channel's turn.
  const showToAsker = async (request: PendingHealthRequest, view: HealthView) => {
    const message = deps.templates.renderMessage('health-result', view);
    await deps.slack
      .postEphemeral({ channel: request.channelId, user: request.requestedBy, ...message })
      .catch((err: unknown) =>
        deps.logger.warn({ err }, 'could not show a health check result to who asked'),
      );
  };

  const playbook = async (job: Job<HealthJob>, token: string | undefined, task: PlaybookChecks) => {
    const plan = await planAutoChecks(deps.pool, deps.config, task);
    if (!plan) return;
    if ('waitingFor' in plan.run || plan.rootTs === null) return waitFor(job, token, waitMs(plan.openForMs));
    const result =
      'checks' in plan.run
        ? await runChecks(plan.run.checks, { env: process.env, labels: plan.labels })
        : undefined;
    const message = deps.templates.renderMessage(
      'health-result',
      healthView(
        {
          playbook: plan.playbook,
          ...('coveredBy' in plan.run
            ? {
                covered: {
                  service: plan.service,
                  incidentId: plan.run.coveredBy,
                  at: plan.run.at,
                  oncePerMs: plan.oncePerMs,
                },
              }
            : {}),
        },
        result ? [{ service: plan.service, result }] : [],
        plan.incidentId,
      ),
    );
    try {
      await postPlaybookResult(plan, plan.rootTs, message, result);
    } catch (err) {
      if (err instanceof SlackRateLimitedError || err instanceof SlackOutcomePendingError)
        return waitFor(job, token, err.waitMs);
      throw err;
    }
  };

  // Posted once (looked up after a crash, not posted again), and recorded with the message's ts.
  const postPlaybookResult = async (
    plan: AutoChecksPlan,
    rootTs: string,
    message: ReturnType<TemplateSet['renderMessage']>,
    result: Parameters<typeof recordAutoChecks>[2],
  ) => {
    const client = await deps.pool.connect();
    try {
      for (;;) {
        const posted = await postOnce(
          slack,
          client,
          {
            eventType: 'playbook_checks',
            subjectId: plan.incidentId,
            channel: plan.channelId,
            threadTs: rootTs,
            version: plan.opening,
            payload: { incident_id: plan.incidentId, opening: plan.opening },
            message,
          },
          async (posted) => {
            if (posted.version === plan.opening) await recordAutoChecks(client, plan, result, posted.ts);
          },
        );
        // The intent is the incident's: one found in Slack may be an earlier opening's, left by a crash
        // before it was recorded. It is settled now, and this opening's result is still to be posted.
        if (posted.version === plan.opening) return;
      }
    } finally {
      client.release();
    }
  };

  const processor = async (job: Job<HealthJob>, token?: string) => {
    const task = job.data;
    if (task.kind === 'playbook') return playbook(job, token, task);
    // One an older version queued names no request: it carries it, and it is recorded now.
    const older = task as Partial<RequestedChecks> & Partial<HealthRequest>;
    if (older.requestId === undefined && older.services && older.channelId && older.requestedBy) {
      const requestId = await recordOlderRequest(deps.pool, job.id!, older as HealthRequest);
      // Posted already, by an earlier run of this job.
      if (requestId === undefined) return;
      return requested(job, token, { kind: 'requested', requestId });
    }
    return requested(job, token, task);
  };
  const worker = new Worker<HealthJob>(HEALTH_QUEUE, instrumented(HEALTH_QUEUE, deps, processor), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: 4,
    settings: { backoffStrategy: cappedExponentialBackoff },
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'health worker error'));
  await worker.waitUntilReady();

  const sweep = async () => {
    for (const due of await autoChecksDue(deps.pool, deps.config, SWEEP_BACK_MS))
      await requeuePlaybookChecks(deps.queue, { kind: 'playbook', ...due });
    for await (const requestId of healthRequestsDue(deps.pool))
      await requeueHealthCheck(deps.queue, requestId);
  };
  const sweeping = async () =>
    sweep().catch((err: unknown) => deps.logger.warn({ err }, 'health checks sweep failed'));
  void sweeping();
  const timer = setInterval(sweeping, SWEEP_EVERY_MS);
  timer.unref();
  worker.on('closing', () => clearInterval(timer));
  return worker;
}
