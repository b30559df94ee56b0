import { DelayedError, type Job, type Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { FileConfig } from '../config/file.js';
import { healthRecord, runChecks } from '../health/checks.js';
import { addTimelineEntries } from '../incidents/timeline.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import {
  type AutoChecksPlan,
  autoChecksDue,
  planAutoChecks,
  recordAutoChecks,
} from '../playbooks/autoChecks.js';
import {
  HEALTH_QUEUE,
  type HealthJob,
  type PlaybookChecks,
  type RequestedChecks,
  requeuePlaybookChecks,
} from '../queues/healthJobs.js';
import type { TemplateSet } from '../render/templates.js';
import { SlackOutcomePendingError, SlackRateLimitedError } from '../slack/errors.js';
import { postOnce } from '../slack/postOnce.js';
import type { SlackRateLimiter } from '../slack/rateLimiter.js';
import type { SlackApi } from '../slack/slackApi.js';
import { type HealthView, healthView } from '../views/health.js';
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
// within SWEEP_BACK_MS: later than that, checks run "as it opened" would tell of another moment.
const SWEEP_EVERY_MS = 60_000;
const SWEEP_BACK_MS = 15 * 60_000;
// The incident's root message is not in Slack yet (its thread is where the result goes), or the incident
// holding the service's window has not shown its result. The wait grows with the time the incident has
// been open, so a long Slack outage in a storm is not every incident's job polling every 2 s.
const WAIT_MIN_MS = 2_000;
const WAIT_MAX_MS = 60_000;
const waitMs = (openForMs: number) => Math.min(WAIT_MAX_MS, Math.max(WAIT_MIN_MS, openForMs / 10));

/** Waits without using an attempt: this job runs again after `ms`. */
async function waitFor(job: Job<HealthJob>, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + ms, token);
  throw new DelayedError();
}

/**
 * The incident the checks were run for, or else the one a channel (its own) or thread (its root) belongs
 * to, with the labels its alerts share (group and common labels), which fill the checks'
 * `{{labels.name}}` placeholders.
 */
async function incidentOf(
  pool: pg.Pool,
  task: RequestedChecks,
): Promise<{ id: number; labels: Record<string, string> } | undefined> {
  const { rows } = await pool.query<{ id: number; labels: Record<string, string> }>(
    `SELECT id::int AS id, group_labels || common_labels AS labels FROM incidents
      WHERE id = $3 OR ($3 IS NULL AND channel_id = $1 AND (dedicated_channel OR root_ts = $2))
      ORDER BY dedicated_channel DESC LIMIT 1`,
    [task.channelId, task.threadTs ?? null, task.incidentId ?? null],
  );
  return rows[0];
}

/**
 * Runs health checks off the request path and posts the templated result where they were asked for; and
 * a playbook's auto checks, in the thread of the incident that opened.
 */
export async function startHealthWorker(deps: HealthWorkerDeps): Promise<Worker<HealthJob>> {
  const requested = async (job: Job<HealthJob>, token: string | undefined, task: RequestedChecks) => {
    const incident = await incidentOf(deps.pool, task);
    const incidentId = incident?.id;
    const health = await Promise.all(
      task.services.map(async (service) => {
        const checks = deps.config.services[service]?.checks ?? [];
        return {
          service,
          result: await runChecks(
            task.checks ? checks.filter((c) => task.checks!.includes(c.name)) : checks,
            {
              env: process.env,
              labels: incident?.labels ?? {},
            },
          ),
        };
      }),
    );
    const view = healthView({ user: task.requestedBy }, health, incidentId);
    const message = deps.templates.renderMessage('health-result', view);
    let posted: { ts: string };
    try {
      posted = await deps.limiter.run(
        `chat.postMessage:${task.channelId}`,
        deps.config.slack.rateLimits.postMessagePerChannel,
        () =>
          deps.slack.postMessage({
            channel: task.channelId,
            ...message,
            ...(task.threadTs ? { threadTs: task.threadTs } : {}),
          }),
        // Each return runs the checks again: results waiting for the channel come back one at a time.
        { waiter: `health:${job.id}` },
      );
    } catch (err) {
      if (!(err instanceof SlackRateLimitedError)) throw err;
      const turn = Date.now() + err.waitMs;
      if (!task.shownToAsker) await showToAsker(job, task, { ...view, askerOnly: true });
      return waitFor(job, token, Math.max(0, turn - Date.now()));
    }
    if (incidentId === undefined) return;
    await addTimelineEntries(
      deps.pool,
      incidentId,
      health.map(({ service, result }) => ({
        kind: 'health_check' as const,
        actor: task.requestedBy,
        data: healthRecord(service, result),
      })),
      posted.ts,
    );
  };

  // Who asked sees this result now, while the message for everyone waits for the channel's turn; marked
  // before it is sent, so that later waits and retries do not show it again.
  const showToAsker = async (job: Job<HealthJob>, task: RequestedChecks, view: HealthView) => {
    await job.updateData({ ...task, shownToAsker: true });
    const message = deps.templates.renderMessage('health-result', view);
    await deps.slack
      .postEphemeral({ channel: task.channelId, user: task.requestedBy, ...message })
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
          {
            slack: deps.slack,
            limiter: deps.limiter,
            limits: deps.config.slack.rateLimits,
          },
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
    return requested(job, token, task);
  };
  const worker = new Worker<HealthJob>(HEALTH_QUEUE, instrumented(HEALTH_QUEUE, deps, processor), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: 4,
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'health worker error'));
  await worker.waitUntilReady();

  const sweep = async () => {
    for (const due of await autoChecksDue(deps.pool, deps.config, SWEEP_BACK_MS))
      await requeuePlaybookChecks(deps.queue, { kind: 'playbook', ...due });
  };
  const sweeping = async () =>
    sweep().catch((err: unknown) => deps.logger.warn({ err }, 'playbook checks sweep failed'));
  void sweeping();
  const timer = setInterval(sweeping, SWEEP_EVERY_MS);
  timer.unref();
  worker.on('closing', () => clearInterval(timer));
  return worker;
}
