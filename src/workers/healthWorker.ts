import { DelayedError, type Job, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import type { FileConfig } from '../config/file.js';
import { runChecks } from '../health/checks.js';
import { addTimelineEntries } from '../incidents/timeline.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { HEALTH_QUEUE, type HealthJob } from '../queues/healthJobs.js';
import type { TemplateSet } from '../render/templates.js';
import { SlackRateLimitedError } from '../slack/errors.js';
import type { SlackRateLimiter } from '../slack/rateLimiter.js';
import type { SlackApi } from '../slack/slackApi.js';
import { healthView } from '../views/health.js';
import { instrumented } from './instrumented.js';

export interface HealthWorkerDeps {
  pool: pg.Pool;
  config: FileConfig;
  slack: SlackApi;
  limiter: SlackRateLimiter;
  templates: TemplateSet;
  connection: Redis;
  prefix: string;
  metrics: Metrics;
  logger: Logger;
}

/**
 * The incident the checks were run for, or else the one a channel (its own) or thread (its root) belongs
 * to, with the labels its alerts share (group and common labels), which fill the checks'
 * `{{labels.name}}` placeholders.
 */
async function incidentOf(
  pool: pg.Pool,
  task: HealthJob,
): Promise<{ id: number; labels: Record<string, string> } | undefined> {
  const { rows } = await pool.query<{ id: number; labels: Record<string, string> }>(
    `SELECT id::int AS id, group_labels || common_labels AS labels FROM incidents
      WHERE id = $3 OR ($3 IS NULL AND channel_id = $1 AND (dedicated_channel OR root_ts = $2))
      ORDER BY dedicated_channel DESC LIMIT 1`,
    [task.channelId, task.threadTs ?? null, task.incidentId ?? null],
  );
  return rows[0];
}

/** Runs health checks off the request path and posts the templated result where they were asked for. */
export async function startHealthWorker(deps: HealthWorkerDeps): Promise<Worker<HealthJob>> {
  const processor = async (job: Job<HealthJob>, token?: string) => {
    const task = job.data;
    const incident = await incidentOf(deps.pool, task);
    const incidentId = incident?.id;
    const health = await Promise.all(
      task.services.map(async (service) => ({
        service,
        result: await runChecks(deps.config.services[service]?.checks ?? [], {
          env: process.env,
          labels: incident?.labels ?? {},
        }),
      })),
    );
    const message = deps.templates.renderMessage(
      'health-result',
      healthView(task.requestedBy, health, incidentId),
    );
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
      );
    } catch (err) {
      if (!(err instanceof SlackRateLimitedError)) throw err;
      await job.moveToDelayed(Date.now() + err.waitMs, token);
      throw new DelayedError();
    }
    if (incidentId !== undefined) {
      await addTimelineEntries(
        deps.pool,
        incidentId,
        health.map(({ service, result }) => ({
          kind: 'health_check' as const,
          actor: task.requestedBy,
          data: {
            service,
            status: result.status,
            checks: result.results.map((r) => ({
              name: r.name,
              status: r.status,
              latencyMs: Math.round(r.latencyMs),
              detail: r.detail,
            })),
          },
        })),
      );
      // Already shown: the result message itself.
      await deps.pool.query(
        "UPDATE timeline_entries SET slack_ts = $2 WHERE incident_id = $1 AND kind = 'health_check' AND slack_ts IS NULL",
        [incidentId, posted.ts],
      );
    }
  };
  const worker = new Worker<HealthJob>(HEALTH_QUEUE, instrumented(HEALTH_QUEUE, deps, processor), {
    connection: deps.connection,
    prefix: deps.prefix,
    concurrency: 4,
  });
  worker.on('error', (err) => deps.logger.error({ err }, 'health worker error'));
  await worker.waitUntilReady();
  return worker;
}
