import type pg from 'pg';
import { inTransaction } from '../db/pool.js';
import { bumpVersion } from '../incidents/lifecycle.js';
import type { NewTimelineEntry } from '../incidents/timeline.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { PagerError } from '../pagers/errors.js';
import { PAGER_TIMEOUT_MS } from '../pagers/httpPost.js';
import type { PageAction, Pager } from '../pagers/pager.js';
import { shortReason } from '../primitives/errors.js';
import { incidentRef } from '../primitives/ids.js';
import type { Severity } from '../primitives/severity.js';
import { PAGING_ACTOR } from './pages.js';

/**
 * Page sync: each page row (incident, pager) is brought to show what Postgres says of its incident.
 * Open and unacknowledged → trigger; acknowledged → acknowledge; resolved → resolve; reopened → trigger
 * again, with the same dedup key. The row records what the pager last accepted, so only what differs
 * is sent. A failure is retried with backoff (retry_at) without holding anything else up; a refusal
 * (4xx) waits for the next change. The thread is told of a failure once per streak, and of its end.
 */

/**
 * The pager may still hold an alert of an earlier opening of the incident: the last event it took, sent
 * before this opening began (an event an older process recorded has no opening), was a trigger or an
 * acknowledge; or a trigger for it had an unknown outcome. Not when the pager refused to resolve it (it
 * closed that alert by hand, say): the new trigger goes anyway. Nor once this opening's own trigger has
 * been tried, which goes only after that alert is resolved or the resolve refused: a try whose outcome
 * is not known is unsettled, a refused one recorded as this opening's refusal, either overwriting the
 * resolve's record.
 */
const EARLIER_ALERT = `((p.sent_action IN ('trigger', 'acknowledge') AND p.sent_opening < i.reopen_count
    AND p.sent_at < i.opened_at)
  OR p.trigger_unsettled_opening < i.reopen_count)
  AND NOT COALESCE(p.failed_action IN ('resolve', 'trigger') AND p.retry_at IS NULL
    AND p.failed_opening = i.reopen_count, false)
  AND p.trigger_unsettled_opening IS DISTINCT FROM i.reopen_count`;

/**
 * What the pager must show of `i`, the incident (with its acknowledgement from migration 016), next. A
 * reopened incident whose pager still holds the alert of an earlier opening has it resolved first: an
 * acknowledged alert takes a trigger of its dedup key in, and would page nobody.
 */
const WANTED = `CASE WHEN i.state = 'resolved' THEN 'resolve'
  WHEN i.acknowledged_at IS NOT NULL THEN 'acknowledge'
  WHEN ${EARLIER_ALERT} THEN 'resolve'
  ELSE 'trigger' END`;

/** The opening of the incident the next event belongs to: the earlier one, for the resolve above. */
const EVENT_OPENING = `CASE WHEN i.state = 'open' AND (${WANTED}) = 'resolve'
  THEN COALESCE(p.trigger_unsettled_opening, p.sent_opening) ELSE i.reopen_count END`;

/**
 * The page `p` shows something else than WANTED. A page never triggered has nothing to stop: it stays
 * silent when the incident was acknowledged or resolved before the trigger got through. A trigger whose
 * outcome is not known (a timeout, a 5xx, a sender that died before recording it) may have got through
 * all the same, so it is stopped too, whatever the pager last took (a reopening's trigger follows the
 * earlier opening's resolve, the very event its own resolve would repeat); PagerDuty drops an
 * acknowledge or resolve for a dedup key it has no open alert for.
 */
const OUT_OF_STEP = `((${WANTED}) IS DISTINCT FROM p.sent_action
    OR (p.trigger_unsettled_opening IS NOT NULL AND (${WANTED}) <> 'trigger'))
  AND (p.sent_action IS NOT NULL OR (${WANTED}) = 'trigger' OR p.trigger_unsettled_opening IS NOT NULL)`;

/**
 * Its failing event is not to be sent now: its retry is not due, or the pager refused it during this
 * opening of the incident (a reopen tries again).
 */
const WAITING = `p.failed_action IS NOT DISTINCT FROM (${WANTED})
  AND COALESCE(p.retry_at > now(), p.failed_opening IS NOT DISTINCT FROM i.reopen_count)`;

/** A sender's hold on a page: long enough for one try, short enough that a crashed one's runs out soon. */
const CLAIM_MS = PAGER_TIMEOUT_MS * 3;

/** The first retry after this long, each next one twice as long, up to a minute. */
const FIRST_RETRY_MS = 1000;
const MAX_RETRY_MS = 60_000;

export function retryDelay(failedAttempts: number): number {
  return Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** Math.max(0, failedAttempts - 1));
}

export interface PageSyncDeps {
  pool: pg.Pool;
  /** The configured pagers by name. */
  pagers: Readonly<Record<string, Pager>>;
  /** Slack must come to show `version` (the thread tells what pages did). */
  incidentChanged(incidentId: number, version: number): Promise<void>;
  metrics: Metrics;
  logger: Logger;
}

interface ClaimedPage {
  id: number;
  incidentId: number;
  pager: string;
  dedupKey: string;
  action: PageAction;
  failingSince: Date | null;
  attempts: number;
  /** The failing event was being retried (not refused) before this try. */
  retrying: boolean;
  title: string;
  severity: Severity;
  status: string;
  externalUrl: string | null;
  commonLabels: Record<string, string>;
  reopenCount: number;
  /** The opening of the incident the event belongs to (EVENT_OPENING). */
  opening: number;
  /** The opening a trigger of this page with an unknown outcome was for, before this claim; null: none. */
  unsettledBefore: number | null;
  /**
   * When the event was claimed, its `sent_at` once sent: an event claimed before a reopening is of the
   * opening before it, however late its answer comes.
   */
  claimedAt: Date;
}

/**
 * Brings every page of the incident in step, side by side (a slow pager holds up no other). Returns
 * when the soonest failing page is to be tried again, if one is.
 */
export async function syncIncidentPages(deps: PageSyncDeps, incidentId: number): Promise<{ retryAt?: Date }> {
  const { rows } = await deps.pool.query<{ id: number }>(
    'SELECT id::int AS id FROM incident_pages WHERE incident_id = $1 ORDER BY id',
    [incidentId],
  );
  await Promise.all(rows.map((page) => syncPage(deps, page.id)));
  // A page another sender holds is not tried before its claim runs out: a retry due already would
  // otherwise run again at once, and again, for as long as the other send takes.
  const next = await deps.pool.query<{ at: Date | null }>(
    `SELECT min(GREATEST(p.retry_at, p.sending_until)) AS at
       FROM incident_pages p JOIN incidents i ON i.id = p.incident_id
      WHERE p.incident_id = $1 AND ${OUT_OF_STEP} AND p.failed_action = (${WANTED})`,
    [incidentId],
  );
  const at = next.rows[0]?.at;
  return at ? { retryAt: at } : {};
}

/**
 * Sends what the page lacks, again while the incident moved on during the send, whether that send got
 * through or failed: a job for the change found the page claimed and left it to this one.
 */
async function syncPage(deps: PageSyncDeps, pageId: number): Promise<void> {
  // Bounded: an incident flapping faster than its pager answers is caught up by the next job. An event
  // that just failed is not claimed again here: it waits for its retry (or, refused, the next opening).
  for (let round = 0; round < 3; round++) {
    const page = await claimPage(deps.pool, pageId);
    if (!page) return;
    await sendClaimed(deps, page);
  }
}

/**
 * Takes the page for one send if it is out of step, due, and nobody else is sending it. A trigger is
 * unsettled from its claim until its outcome is recorded: a sender that dies in between leaves it so.
 */
async function claimPage(pool: pg.Pool, pageId: number): Promise<ClaimedPage | undefined> {
  // `before` is the row as it was: RETURNING reads the new one.
  const { rows } = await pool.query<ClaimedPage>(
    `UPDATE incident_pages p SET sending_until = now() + $2 * interval '1 millisecond', updated_at = now(),
            trigger_unsettled_opening = CASE WHEN (${WANTED}) = 'trigger' THEN i.reopen_count
              ELSE p.trigger_unsettled_opening END
       FROM incidents i, incident_pages before
      WHERE p.id = $1 AND i.id = p.incident_id AND before.id = p.id AND ${OUT_OF_STEP} AND NOT (${WAITING})
        AND (p.sending_until IS NULL OR p.sending_until < now())
      RETURNING p.id::int AS id, p.incident_id::int AS "incidentId", p.pager, p.dedup_key AS "dedupKey",
                (${WANTED}) AS action, p.failing_since AS "failingSince", p.attempts,
                p.retry_at IS NOT NULL AS retrying, i.title, i.severity, i.status,
                i.external_url AS "externalUrl", i.common_labels AS "commonLabels",
                i.reopen_count AS "reopenCount", (${EVENT_OPENING}) AS opening, before.trigger_unsettled_opening AS "unsettledBefore",
                now() AS "claimedAt"`,
    [pageId, CLAIM_MS],
  );
  return rows[0];
}

/** One try of the claimed page's event, recorded. */
async function sendClaimed(deps: PageSyncDeps, page: ClaimedPage): Promise<void> {
  const pager = deps.pagers[page.pager];
  const ref = incidentRef(page.incidentId);
  try {
    if (!pager) throw new PagerError('PAGER_REFUSED', `no pager ${page.pager} in the config any more`);
    await pager.send({
      action: page.action,
      dedupKey: page.dedupKey,
      // Each reopen starts the events over: its trigger is news to a receiver that saw the first.
      idempotencyKey: `${page.dedupKey}:${page.opening}:${page.action}`,
      incident: {
        ref,
        title: page.title,
        severity: page.severity,
        status: page.status,
        ...(page.externalUrl ? { url: page.externalUrl } : {}),
        labels: page.commonLabels,
      },
      sentAt: new Date(),
    });
  } catch (err) {
    const failure = err instanceof PagerError ? err : new PagerError('PAGER_UNAVAILABLE', shortReason(err));
    await recordFailure(deps, page, failure);
    return;
  }
  await recordSent(deps, page);
}

async function recordSent(deps: PageSyncDeps, page: ClaimedPage): Promise<void> {
  deps.metrics.pages.inc({ pager: page.pager, action: page.action, outcome: 'sent' });
  const entry: NewTimelineEntry = page.failingSince
    ? {
        kind: 'page_recovered',
        actor: PAGING_ACTOR,
        data: {
          pager: page.pager,
          action: page.action,
          failedAttempts: page.attempts,
          failingSince: page.failingSince.toISOString(),
        },
      }
    : { kind: 'page_sent', actor: PAGING_ACTOR, data: { pager: page.pager, action: page.action } };
  await record(
    deps,
    page,
    `sent_action = $2, sent_opening = $3, sent_at = $4, failed_action = NULL, attempts = 0,
     last_error = NULL, failing_since = NULL, retry_at = NULL, failed_opening = NULL, trigger_unsettled_opening = NULL`,
    [page.action, page.opening, page.claimedAt],
    entry,
  );
}

async function recordFailure(deps: PageSyncDeps, page: ClaimedPage, err: PagerError): Promise<void> {
  const attempts = page.attempts + 1;
  const retryAt = err.retryable ? new Date(Date.now() + retryDelay(attempts)) : null;
  deps.metrics.pages.inc({
    pager: page.pager,
    action: page.action,
    outcome: err.retryable ? 'failed' : 'refused',
  });
  deps.logger.warn(
    { pager: page.pager, action: page.action, attempts, err: err.message, code: err.code },
    err.retryable ? 'page not delivered; retrying' : 'page refused',
  );
  // Told once per streak, and again only when retrying stops: not at each try.
  const tell = !page.failingSince || (page.retrying && !err.retryable);
  await record(
    deps,
    page,
    // A trigger refused is settled unless an earlier try of it may have got through.
    `failed_action = $2, attempts = $3, last_error = $4, failing_since = COALESCE(failing_since, now()),
     retry_at = $5, failed_opening = $6,
     trigger_unsettled_opening = CASE WHEN $2 = 'trigger' AND $5::timestamptz IS NULL THEN $7::integer
       ELSE trigger_unsettled_opening END`,
    [page.action, attempts, err.message, retryAt, page.reopenCount, page.unsettledBefore],
    tell
      ? {
          kind: 'page_failed',
          actor: PAGING_ACTOR,
          data: { pager: page.pager, action: page.action, error: err.message, retrying: err.retryable },
        }
      : undefined,
  );
}

/** Releases the claim with the outcome, and tells the thread `entry` if there is one. */
async function record(
  deps: PageSyncDeps,
  page: ClaimedPage,
  set: string,
  params: unknown[],
  entry: NewTimelineEntry | undefined,
): Promise<void> {
  const version = await inTransaction(deps.pool, async (db) => {
    await db.query(
      `UPDATE incident_pages SET ${set}, sending_until = NULL, updated_at = now() WHERE id = $1`,
      [page.id, ...params],
    );
    if (!entry) return undefined;
    return bumpVersion(db, page.incidentId, { entries: [entry] });
  });
  if (version !== undefined) await deps.incidentChanged(page.incidentId, version);
}

/**
 * Pages the pager refused are tried again once, now: a restart is how a fixed config or secret arrives.
 * Only those still out of step are sent; one refused again is not told again.
 */
export async function retryRefusedPages(pool: pg.Pool): Promise<void> {
  await pool.query(
    `UPDATE incident_pages SET failed_opening = NULL, updated_at = now()
      WHERE failed_action IS NOT NULL AND retry_at IS NULL`,
  );
}

/** Incidents with a page out of step that nobody is sending: what the sweep hands to page sync. */
export async function incidentsWithPagesOutOfStep(pool: pg.Pool, limit: number): Promise<number[]> {
  const { rows } = await pool.query<{ id: number }>(
    `SELECT DISTINCT p.incident_id::int AS id FROM incident_pages p JOIN incidents i ON i.id = p.incident_id
      WHERE ${OUT_OF_STEP} AND NOT (${WAITING})
        AND (p.sending_until IS NULL OR p.sending_until < now())
      ORDER BY id LIMIT $1`,
    [limit],
  );
  return rows.map((r) => r.id);
}
