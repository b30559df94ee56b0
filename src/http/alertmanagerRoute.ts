import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Queue } from 'bullmq';
import type pg from 'pg';
import { type Delivery, deliveryOf, isDataException } from '../alerts/deliveries.js';
import { AcceptWaitedTooLong, type DeliveryAcceptor } from '../alerts/deliveryAcceptor.js';
import { recordHeartbeat, separateHeartbeat } from '../alerts/heartbeat.js';
import { MAX_TRUNCATED_ALERTS, safeParseWebhookPayload, type WebhookPayload } from '../alerts/payload.js';
import { formatPath } from '../config/errors.js';
import type { FileConfig } from '../config/file.js';
import { isTransientDbError } from '../db/pool.js';
import { addLogContext } from '../observability/logContext.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { Budget } from '../primitives/budget.js';
import { incidentRef } from '../primitives/ids.js';
import { withTimeout } from '../primitives/withTimeout.js';
import { enqueueHeartbeatGapSync, type SlackSyncJob } from '../queues/queues.js';
import {
  ALERTMANAGER_BODY_LIMITS,
  parseWholeBody,
  RequestAborted,
  readAlertmanagerBody,
  type ScannedBody,
  WHOLE_BODY_MAX_BYTES,
} from './alertmanagerBody.js';
import { bearerTokenMatches } from './bearerAuth.js';
import { RecentBodies } from './recentBodies.js';
import { HttpError, sendJson } from './respond.js';
import { logAsRoutine } from './server.js';

const ENQUEUE_TIMEOUT_MS = 3000;
/**
 * The bytes of bodies over WHOLE_BODY_MAX_BYTES read at once, each counted as declared (one of no declared
 * length as the largest allowed): two of the largest. One of up to 32 MiB takes several times that while it
 * is read, parsed and stored, and ten at once took about 700 MiB. The others wait their turn, their bytes
 * left in the socket, before a byte of them is read.
 */
const LARGE_BODY_BYTES_AT_ONCE = 2 * ALERTMANAGER_BODY_LIMITS.maxBytes;

export interface AlertmanagerRouteDeps {
  pool: pg.Pool;
  /** Stores each delivery, or knows it for a repeat, with the others arriving at the same time. */
  acceptor: DeliveryAcceptor;
  /** Where the heartbeat's return is told. */
  queue: Queue<SlackSyncJob>;
  /**
   * Told of each delivery stored: the deliveries worker ingests it now rather than at the next poll, but
   * holds while a burst of them is arriving, leaving the answers the CPU they need.
   */
  stored: () => void;
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
  const recent = new RecentBodies();
  const largeBodies = new Budget(LARGE_BODY_BYTES_AT_ONCE);
  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const started = performance.now();
    let outcome = 'error';
    try {
      const result = await handle(deps, recent, largeBodies, req);
      outcome = result.outcome;
      // What a stored delivery comes to is logged as it is ingested (see DeliveriesWorker), off the answers'
      // thread time: its request line at info was a tenth to a fifth of what the webhook spent on one. A
      // notification of the heartbeat alone, never stored, keeps its line.
      if (outcome === 'accepted' || outcome === 'duplicate') logAsRoutine(res);
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
      // A stored delivery is counted by what ingesting it comes to (see DeliveriesWorker).
      if (outcome !== 'accepted') deps.metrics.webhookDeliveries.inc({ outcome });
      deps.metrics.webhookDuration.observe((performance.now() - started) / 1000);
    }
  };
}

async function handle(
  deps: AlertmanagerRouteDeps,
  recent: RecentBodies,
  largeBodies: Budget,
  req: IncomingMessage,
) {
  if (req.method !== 'POST') throw new HttpError(405, 'use POST', { allow: 'POST' });
  if (!bearerTokenMatches(req.headers.authorization, deps.token)) {
    throw new HttpError(401, 'missing or wrong bearer token', { 'www-authenticate': 'Bearer' });
  }
  // Only once the sender is known: a stranger's large body never takes or waits for a turn.
  const declared = Number(req.headers['content-length']);
  // Held whole, or refused without a byte read: nothing to wait for.
  if (declared <= WHOLE_BODY_MAX_BYTES || declared > ALERTMANAGER_BODY_LIMITS.drainBytes)
    return accept(deps, recent, req);
  deps.metrics.largeBodiesWaiting.inc();
  const { maxBytes } = ALERTMANAGER_BODY_LIMITS;
  const share = Number.isFinite(declared) ? Math.min(declared, maxBytes) : maxBytes;
  const endTurn = await largeBodies.take(share).finally(() => deps.metrics.largeBodiesWaiting.dec());
  try {
    // Gone while it waited: nothing will come to read.
    if (req.destroyed) throw new RequestAborted({ cause: 'the sender went away while it waited its turn' });
    return await accept(deps, recent, req);
  } finally {
    endTurn();
  }
}

/** Reads the notification, and accepts it unless it is refused. */
async function accept(deps: AlertmanagerRouteDeps, recent: RecentBodies, req: IncomingMessage) {
  const body = await readAlertmanagerBody(req, ALERTMANAGER_BODY_LIMITS);
  if (!('whole' in body)) return acceptNotification(deps, notificationIn(deps, body), body.bytes);
  const { whole, bytes } = body;
  const key = RecentBodies.keyOf(whole);
  const known = recent.get(key);
  const parse = () => notificationIn(deps, parseWholeBody(whole, ALERTMANAGER_BODY_LIMITS));
  // Parsed again only if it has to be stored (the incident no longer shows it, say).
  if (known) return acceptDelivery(deps, { ...known, payload: parse }, bytes);
  // A notification with the heartbeat in it is parsed each time: each is a beat.
  return acceptNotification(deps, parse(), bytes, (delivery) => recent.remember(key, delivery));
}

/** The notification a body holds, validated: an HttpError (413, 400) says why not. */
function notificationIn(deps: AlertmanagerRouteDeps, body: ScannedBody): WebhookPayload {
  if (body.tooLarge) {
    // Alertmanager drops it for good: loud, so that an alert on the delivery counter (http_413) fires.
    const limit = ALERTMANAGER_BODY_LIMITS.maxBytes;
    deps.logger.error(
      { groupKey: body.groupKey, bytes: body.bytes, limit },
      `alertmanager webhook: a notification of ${body.bytes} bytes${body.readToEnd ? '' : ' or more'} for group ${body.groupKey ?? '(unknown)'} is over the ${limit}-byte limit and was refused; Alertmanager drops it (set max_alerts on its receiver: see config/alertmanager.example.yml)`,
    );
    // A body not read to its end is not read after the answer either: the connection closes.
    throw new HttpError(
      413,
      `body larger than ${limit} bytes`,
      body.readToEnd ? {} : { connection: 'close' },
    );
  }
  const parsed = safeParseWebhookPayload(body.json, {
    error: (issue) => (issue.code === 'invalid_type' && issue.input === undefined ? 'required' : undefined),
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const more =
      parsed.error.issues.length > 1 ? ` (and ${parsed.error.issues.length - 1} more problems)` : '';
    throw new HttpError(400, `${formatPath(issue.path)}: ${issue.message}${more}`);
  }
  // The alerts read but not kept count as truncated, as Alertmanager's own max_alerts would; but only
  // Alertmanager's own leave its status telling of the alerts listed alone (never the sender's say-so).
  const { alertmanagerTruncated: _sent, ...sent } = parsed.data;
  return {
    ...sent,
    truncatedAlerts: Math.min(MAX_TRUNCATED_ALERTS, sent.truncatedAlerts + body.truncatedAlerts),
    ...(sent.truncatedAlerts > 0 ? { alertmanagerTruncated: true as const } : {}),
  };
}

/**
 * The heartbeat is recorded, never an incident: what else the notification holds is accepted as usual.
 * `asSent` is told of the delivery when it is the notification as sent (it held no heartbeat).
 */
async function acceptNotification(
  deps: AlertmanagerRouteDeps,
  payload: WebhookPayload,
  bytes: number,
  asSent?: (delivery: Delivery) => void,
) {
  const { heartbeat } = deps.config;
  const { beat, rest } = heartbeat
    ? separateHeartbeat(payload, heartbeat.alertname)
    : { beat: false, rest: payload };
  if (heartbeat && beat) await recordBeat(deps, heartbeat.alertname);
  if (!rest) return { outcome: beat ? 'heartbeat' : 'ignored' };
  const delivery = deliveryOf(rest);
  if (rest === payload) asSent?.(delivery);
  return acceptDelivery(deps, delivery, bytes);
}

async function acceptDelivery(deps: AlertmanagerRouteDeps, delivery: Delivery, bytes: number) {
  const accepted = await deps.acceptor.accept(delivery, bytes);
  if (accepted.outcome === 'duplicate') {
    addLogContext({ incidentId: accepted.incidentId });
    return { outcome: accepted.outcome, incident: incidentRef(accepted.incidentId) };
  }
  addLogContext({ deliveryId: accepted.deliveryId });
  deps.stored();
  return { outcome: accepted.outcome, delivery: accepted.deliveryId };
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

export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  // Unanswered within the webhook pool's query timeout, or not taken in time: the database is away or
  // not keeping up.
  if (isTransientDbError(err) || err instanceof AcceptWaitedTooLong)
    return new HttpError(503, 'database unavailable, retry later', { 'retry-after': '5' });
  // A value of this payload that PostgreSQL will never take.
  if (isDataException(err))
    return new HttpError(400, `the database refused a value in the payload (SQLSTATE ${err.code})`);
  // Another database error, or a bug: Alertmanager still retries a 500; the log has the details.
  return new HttpError(500, 'internal error');
}
