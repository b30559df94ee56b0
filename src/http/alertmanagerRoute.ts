import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Queue } from 'bullmq';
import pg from 'pg';
import { recordHeartbeat, separateHeartbeat } from '../alerts/heartbeat.js';
import { ingestDelivery } from '../alerts/ingest.js';
import { MAX_TRUNCATED_ALERTS, WebhookPayloadSchema } from '../alerts/payload.js';
import { formatPath } from '../config/errors.js';
import type { FileConfig } from '../config/file.js';
import { isTransientDbError } from '../db/pool.js';
import type { IncidentEffects } from '../incidents/lifecycle.js';
import { addLogContext } from '../observability/logContext.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { incidentRef } from '../primitives/ids.js';
import { enqueueHeartbeatGapSync, enqueueIncidentSync, type SlackSyncJob } from '../queues/queues.js';
import { ALERTMANAGER_BODY_LIMITS, RequestAborted, readAlertmanagerBody } from './alertmanagerBody.js';
import { bearerTokenMatches } from './bearerAuth.js';
import { HttpError, sendJson } from './respond.js';

const ENQUEUE_TIMEOUT_MS = 3000;

export interface AlertmanagerRouteDeps {
  pool: pg.Pool;
  queue: Queue<SlackSyncJob>;
  /** False while Redis is unreachable: then nothing is written and Alertmanager is asked to retry. */
  queueReady: () => boolean;
  /** Where a reopened incident's status-update reminder is scheduled, and its escalation started or stopped. */
  effects: Pick<IncidentEffects, 'updateDue' | 'opened' | 'resolved'>;
  config: FileConfig;
  token: string;
  metrics: Metrics;
  logger: Logger;
}

/**
 * POST /alertmanager. Alertmanager retries a notification only on 5xx and drops it on any 4xx, so a
 * 4xx here means "this request can never succeed", every transient fault is a 503, and anything else
 * (a bug, a missing table) a 500: retried too, but logged as the error it is.
 */
export function alertmanagerRoute(deps: AlertmanagerRouteDeps) {
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    let outcome = 'error';
    try {
      const result = await handle(deps, req);
      outcome = result.outcome;
      sendJson(res, 200, result);
    } catch (err) {
      if (err instanceof RequestAborted) {
        // Nobody is left to answer; Alertmanager sends it again.
        outcome = 'aborted';
        deps.logger.warn({ err }, 'alertmanager webhook: the sender went away before the end of its body');
        return;
      }
      const { status, message, headers } = toHttpError(err);
      outcome = `http_${status}`;
      // A bug, or a value the database refused that validation let through (the alert is dropped): errors.
      if (status === 500 || (status < 500 && !(err instanceof HttpError)))
        deps.logger.error({ err }, `alertmanager webhook: ${message}`);
      else if (status >= 500) deps.logger.warn({ err }, `alertmanager webhook: ${message}`);
      sendJson(res, status, { error: message }, headers);
    } finally {
      deps.metrics.webhookDeliveries.inc({ outcome });
      deps.metrics.webhookDuration.observe((performance.now() - started) / 1000);
    }
  };
}

async function handle(deps: AlertmanagerRouteDeps, req: IncomingMessage) {
  if (req.method !== 'POST') throw new HttpError(405, 'use POST', { allow: 'POST' });
  if (!bearerTokenMatches(req.headers.authorization, deps.token)) {
    throw new HttpError(401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
  }
  const body = await readAlertmanagerBody(req, ALERTMANAGER_BODY_LIMITS);
  if (body.tooLarge) {
    // Alertmanager drops it for good: loud, so that an alert on the delivery counter (http_413) fires.
    const limit = ALERTMANAGER_BODY_LIMITS.maxBytes;
    deps.logger.error(
      { groupKey: body.groupKey, bytes: body.bytes, limit },
      `alertmanager webhook: a notification of ${body.bytes} bytes${body.readToEnd ? '' : ' or more'} for group ${body.groupKey ?? '(unknown)'} is over the ${limit}-byte limit and was refused; Alertmanager drops it (lower max_alerts on its receiver)`,
    );
    // A body not read to its end is not read after the answer either: the connection closes.
    throw new HttpError(
      413,
      `body larger than ${limit} bytes`,
      body.readToEnd ? {} : { connection: 'close' },
    );
  }
  const parsed = WebhookPayloadSchema.safeParse(body.json, {
    error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const more =
      parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more problems)` : '';
    throw new HttpError(400, `${formatPath(issue.path)}: ${issue.message}${more}`);
  }
  // Checked before writing, so that an accepted delivery can always be queued for Slack.
  if (!deps.queueReady()) throw new HttpError(503, 'queue unavailable, retry later', { 'retry-after': '5' });
  // The alerts read but not kept count as truncated, as Alertmanager's own max_alerts would.
  const payload = {
    ...parsed.data,
    truncatedAlerts: Math.min(MAX_TRUNCATED_ALERTS, parsed.data.truncatedAlerts + body.truncatedAlerts),
  };
  // The heartbeat is recorded, never an incident: what else the notification holds is ingested as usual.
  const { heartbeat } = deps.config;
  const { beat, rest } = heartbeat
    ? separateHeartbeat(payload, heartbeat.alertname)
    : { beat: false, rest: payload };
  if (heartbeat && beat) await recordBeat(deps, heartbeat.alertname);
  if (!rest) return { outcome: beat ? 'heartbeat' : 'ignored' };
  const result = await ingestDelivery(deps.pool, deps.config, rest);
  // Counted once stored, whatever befalls the enqueue: a retry of this delivery is a duplicate.
  if (result.incident && result.outcome === 'reopened')
    deps.metrics.incidentsReopened.inc({ severity: result.incident.severity });
  if (result.incident && result.resolved) {
    const { severity } = result.incident;
    deps.metrics.timeToResolve.observe({ severity }, result.resolved.afterMs / 1000);
  }
  // Enqueued for a duplicate too while Slack is behind: if the first delivery's enqueue failed after its
  // commit, the retry Alertmanager makes after our 503 is what gets the incident to Slack.
  const { incident, updateDue, opening } = result;
  if (incident) addLogContext({ incidentId: incident.id });
  if (incident && result.slackBehind) {
    await withTimeout(
      (async () => {
        await enqueueIncidentSync(deps.queue, incident.id, incident.version);
        // Reopened: its status updates are due again, and resolving had dropped their reminder.
        if (updateDue) await deps.effects.updateDue(incident.id, updateDue.updateCount, updateDue.dueAt);
        // Until someone acknowledges it, people are called; the escalation sweep also finds it, should
        // this enqueue be lost after the commit.
        if (opening !== undefined) await deps.effects.opened(incident.id, opening);
        if (result.resolved) await deps.effects.resolved(incident.id);
      })(),
      ENQUEUE_TIMEOUT_MS,
    ).catch((cause: unknown) => {
      throw new QueueUnavailable('queue unavailable, retry later', { cause });
    });
  }
  return { outcome: result.outcome, ...(incident ? { incident: incidentRef(incident.id) } : {}) };
}

/**
 * A delivery of the heartbeat; when it ends a gap, the pipeline's return is told at once. Not at the price
 * of a 503: should the queue fail now, the reconcile pass queues the message within a minute.
 */
async function recordBeat(deps: AlertmanagerRouteDeps, alertname: string): Promise<void> {
  const ended = await recordHeartbeat(deps.pool, alertname);
  if (ended === undefined) return;
  await withTimeout(enqueueHeartbeatGapSync(deps.queue, ended, 'back'), ENQUEUE_TIMEOUT_MS).catch(
    (err: unknown) =>
      deps.logger.warn(
        { err, gapId: ended },
        'alertmanager webhook: the heartbeat is back but its message was not queued; the reconcile pass will',
      ),
  );
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Redis failed after the delivery was stored: Alertmanager's retry is what gets it to Slack. */
class QueueUnavailable extends Error {}

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  if (isTransientDbError(err))
    return new HttpError(503, 'database unavailable, retry later', { 'retry-after': '5' });
  if (err instanceof QueueUnavailable) return new HttpError(503, err.message, { 'retry-after': '5' });
  // SQLSTATE class 22, data exception: a value of this payload that PostgreSQL will never take.
  if (err instanceof pg.DatabaseError && err.code?.startsWith('22'))
    return new HttpError(400, `the database refused a value in the payload (SQLSTATE ${err.code})`);
  // Another database error, or a bug: Alertmanager still retries a 500; the log has the details.
  return new HttpError(500, 'internal error');
}
