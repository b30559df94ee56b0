import type pg from 'pg';
import { type ActionDefinition, actionDigest } from '../actions/catalog.js';
import { recordDegradation } from '../actions/degradation.js';
import type { ParamValue } from '../actions/drivers/driver.js';
import { optionParamsOf } from '../actions/drivers/index.js';
import { validateParams } from '../actions/params.js';
import { keysetPages } from '../db/keysetPages.js';
import { inTransaction } from '../db/pool.js';
import { ALREADY_HANDLED, slackRequestClaim, slackRequestSeen } from '../db/slackRequests.js';
import { addTimelineEntries } from '../incidents/timeline.js';
import { requestRef } from '../primitives/ids.js';
import type { TimelineKind } from '../primitives/timelineKind.js';
import { ApprovalError } from './errors.js';

/**
 * The approval gate (DESIGN.md principle 3): a request moves pending → approved → running →
 * succeeded | failed, or to rejected, expired, cancelled. Every move is one guarded
 * UPDATE … WHERE status = $from AND version = $v, with an audit row; a move that loses a race changes
 * nothing and says so. Votes are rows keyed by (request, person), so a double click is one vote.
 */

export type RequestStatus =
  | 'pending'
  | 'approved'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'rejected'
  | 'expired'
  | 'cancelled';
export const FINAL_STATUSES: ReadonlySet<RequestStatus> = new Set([
  'succeeded',
  'failed',
  'rejected',
  'expired',
  'cancelled',
]);

export interface ActionRequest {
  id: number;
  incidentId: number | null;
  action: string;
  service: string;
  params: Record<string, ParamValue>;
  /** actionDigest of the action when it was requested; null on requests made before it was recorded. */
  actionDigest: string | null;
  requestedBy: string;
  channelId: string;
  threadTs: string | null;
  status: RequestStatus;
  version: number;
  requiredApprovals: number;
  expiresAt: Date;
  expired: boolean;
  dryRunStatus: 'none' | 'running' | 'ok' | 'failed';
  dryRunOutput: string | null;
  summary: string | null;
  output: string | null;
  exitCode: number | null;
  attempts: number;
  messageTs: string | null;
  messageVersion: number;
  /** When the run's driver was let start; null until then, and for a run that never reached it. */
  driverStartedAt: Date | null;
  /** Where it was asked for when Slack refused the bot there, and Slack's error; then shown elsewhere. */
  refusedChannelId: string | null;
  slackError: string | null;
  createdAt: Date;
  startedAt: Date | null;
  finishedAt: Date | null;
}

const COLUMNS = `id::int AS id, incident_id::int AS "incidentId", action, service, params, action_digest AS "actionDigest",
  requested_by AS "requestedBy",
  channel_id AS "channelId", thread_ts AS "threadTs", status, version, required_approvals AS "requiredApprovals",
  expires_at AS "expiresAt", expires_at <= now() AS expired, dry_run_status AS "dryRunStatus",
  dry_run_output AS "dryRunOutput", summary, output, exit_code AS "exitCode", attempts, message_ts AS "messageTs",
  message_version AS "messageVersion", driver_started_at AS "driverStartedAt", refused_channel_id AS "refusedChannelId", slack_error AS "slackError", created_at AS "createdAt", started_at AS "startedAt", finished_at AS "finishedAt"`;

export async function loadRequest(
  db: pg.ClientBase | pg.Pool,
  id: number,
  lock = false,
): Promise<ActionRequest> {
  const { rows } = await db.query<ActionRequest>(
    `SELECT ${COLUMNS} FROM action_requests WHERE id = $1${lock ? ' FOR UPDATE' : ''}`,
    [id],
  );
  if (!rows[0]) throw new ApprovalError('REQUEST_NOT_FOUND', `There is no action request ${requestRef(id)}.`);
  return rows[0];
}

export interface Vote {
  userId: string;
  decision: 'approve' | 'reject';
  createdAt: Date;
}

/** Who approved, in the order they voted. */
const approversOf = (votes: Vote[]): string[] =>
  votes.filter((v) => v.decision === 'approve').map((v) => v.userId);

export async function loadVotes(db: pg.ClientBase | pg.Pool, id: number): Promise<Vote[]> {
  const { rows } = await db.query<Vote>(
    'SELECT user_id AS "userId", decision, created_at AS "createdAt" FROM action_votes WHERE request_id = $1 ORDER BY created_at, user_id',
    [id],
  );
  return rows;
}

/**
 * One guarded move with its audit row and, when it says one, its entry on the incident's timeline: one
 * statement, returning the request as it is after the move. `set` may name `params` as $5, $6, ….
 */
export async function transition(
  db: pg.ClientBase,
  request: Pick<ActionRequest, 'id' | 'status' | 'version' | 'action' | 'service'>,
  to: RequestStatus,
  actor: string,
  options: {
    detail?: string;
    set?: string;
    params?: unknown[];
    timeline?: { kind: TimelineKind; data?: Record<string, unknown> };
  } = {},
): Promise<ActionRequest> {
  const extra = options.params ?? [];
  const next = 5 + extra.length;
  const { timeline } = options;
  const { rows } = await db.query<ActionRequest>(
    `WITH moved AS (
       UPDATE action_requests SET status = $4, version = version + 1, updated_at = now()${options.set ? `, ${options.set}` : ''}
        WHERE id = $1 AND status = $2 AND version = $3 RETURNING ${COLUMNS}
     ), event AS (
       INSERT INTO action_request_events (request_id, actor, from_status, to_status, from_version, to_version, detail)
       SELECT $1, $${next}, $2, $4, $3, version, $${next + 1} FROM moved
     ), entry AS (
       INSERT INTO timeline_entries (incident_id, kind, actor, data)
       SELECT "incidentId", $${next + 2}, $${next}, $${next + 3}::jsonb FROM moved
        WHERE $${next + 2}::text IS NOT NULL AND "incidentId" IS NOT NULL
     )
     SELECT * FROM moved`,
    [
      request.id,
      request.status,
      request.version,
      to,
      ...extra,
      actor,
      options.detail ?? null,
      timeline?.kind ?? null,
      timeline ? JSON.stringify(timelineData(request, timeline.data ?? {})) : null,
    ],
  );
  if (!rows[0]) {
    throw new ApprovalError(
      'CONFLICT',
      `${requestRef(request.id)} changed meanwhile (it is no longer ${request.status}).`,
    );
  }
  return rows[0];
}

/** What a timeline entry about `request` says, for the post-mortem. */
function timelineData(
  request: Pick<ActionRequest, 'id' | 'action' | 'service'>,
  data: Record<string, unknown>,
): Record<string, unknown> {
  return { request: requestRef(request.id), action: request.action, service: request.service, ...data };
}

/** timelineData without data, in SQL, for `row`, which has the request's COLUMNS (requestRef's name too). */
const timelineDataSql = (row: string) =>
  `jsonb_build_object('request', 'ACT-' || ${row}.id, 'action', ${row}.action, 'service', ${row}.service)`;

/** A timeline entry on the request's incident, if it has one. */
async function onTimeline(
  db: pg.ClientBase,
  request: ActionRequest,
  kind: TimelineKind,
  actor: string,
  data: Record<string, unknown>,
) {
  if (request.incidentId === null) return;
  await addTimelineEntries(db, request.incidentId, [{ kind, actor, data: timelineData(request, data) }]);
}

export interface NewRequest {
  incidentId: number | null;
  action: string;
  service: string;
  params: Record<string, ParamValue>;
  /** What a run would do (actionDigest): one whose action no longer has it is refused. */
  actionDigest: string;
  requestedBy: string;
  channelId: string;
  threadTs: string | null;
  requiredApprovals: number;
  expiresAfterMs: number;
  hasDryRun: boolean;
  /** The Slack request asking for it: a replay of that request creates nothing more. */
  requestKey: string;
  /**
   * Refused (ALREADY_REQUESTED) while the incident has an open request for the same action and params:
   * for a button two people may press at once, where a second request would be a second run.
   */
  unlessOpen?: boolean;
}

/** How long a press waits before looking again, while another press of the same button opens its request. */
const PRESS_RETRY_MS = 25;

/** Another press of the same button holds the lock: this one looks again once it is done. */
class AnotherPressFirst extends Error {}

/** The open request for the same action and params on the incident, oldest first; $1–$4 name them. */
const OPEN_ALIKE = `SELECT id::int AS id, requested_by FROM action_requests
  WHERE incident_id = $1 AND service = $2 AND action = $3 AND params = $4::jsonb
    AND status IN ('pending', 'approved', 'running')`;

function alreadyRequested(open: { id: number; requested_by: string }): ApprovalError {
  return new ApprovalError(
    'ALREADY_REQUESTED',
    `${requestRef(open.id)} asks for this already (requested by <@${open.requested_by}>): it is in the incident's thread, waiting for its approvers or running.`,
  );
}

/**
 * Refused (ALREADY_REQUESTED) when the incident has an open request for the same action and params; not
 * when `keyBeforeClaim` was acted on already: a replay is refused as that, by its claim.
 */
async function refuseIfSeenOpen(pool: pg.Pool, input: NewRequest, keyBeforeClaim: string): Promise<void> {
  const { rows } = await pool.query<{ id: number; requested_by: string }>({
    name: 'action-requests-open-alike',
    text: `${OPEN_ALIKE} AND NOT EXISTS (SELECT 1 FROM slack_requests WHERE request_key = $5) ORDER BY id LIMIT 1`,
    values: [input.incidentId, input.service, input.action, JSON.stringify(input.params), keyBeforeClaim],
  });
  if (rows[0]) throw alreadyRequested(rows[0]);
}

/**
 * How long a press waits for another press of the same button to open its request, then is told so. It
 * takes milliseconds; longer only when that press's connection went silent holding the lock.
 */
const PRESS_WAIT_MS = 10_000;

export async function createRequest(
  pool: pg.Pool,
  input: NewRequest,
  { pressWaitMs = PRESS_WAIT_MS }: { pressWaitMs?: number } = {},
): Promise<ActionRequest> {
  const deadline = Date.now() + pressWaitMs;
  for (;;) {
    try {
      return await openRequest(pool, input);
    } catch (err) {
      if (!(err instanceof AnotherPressFirst)) throw err;
    }
    if (Date.now() >= deadline)
      throw new ApprovalError(
        'CONFLICT',
        "Someone else's press of this button is still opening its request: look for it in the incident's thread before pressing again.",
      );
    await new Promise((resolve) => setTimeout(resolve, PRESS_RETRY_MS));
  }
}

/**
 * The CTEs that write the request `id` (an SQL expression) where `when` holds: the request, its first event
 * and, for an incident, its timeline entry. Their params are requestValues', $1–$11.
 */
function requestWrites(id: string, when: string): string {
  return `request AS (
         INSERT INTO action_requests (id, incident_id, action, service, params, requested_by, channel_id, thread_ts,
                                      required_approvals, expires_at, dry_run_status, action_digest)
         SELECT ${id}, $1, $3, $2, $4::jsonb, $5, $6, $7, $8, now() + $9::bigint * interval '1 millisecond', $10, $11
          WHERE ${when}
         RETURNING ${COLUMNS}
       ), event AS (
         INSERT INTO action_request_events (request_id, actor, from_status, to_status, from_version, to_version)
         SELECT id, $5, NULL, 'pending', NULL, 1 FROM request
       ), entry AS (
         INSERT INTO timeline_entries (incident_id, kind, actor, data)
         SELECT $1, 'action_requested', $5, ${timelineDataSql('request')} || jsonb_build_object('params', params)
           FROM request WHERE $1::bigint IS NOT NULL
       )`;
}

/** The params of requestWrites (and of OPEN_ALIKE, $1–$4): what is asked for, by whom, where. */
const requestValues = (input: NewRequest) => [
  input.incidentId,
  input.service,
  input.action,
  JSON.stringify(input.params),
  input.requestedBy,
  input.channelId,
  input.threadTs,
  input.requiredApprovals,
  input.expiresAfterMs,
  input.hasDryRun ? 'running' : 'none',
  input.actionDigest,
];

/**
 * Opens the request. Asked for by a command, in one statement that claims the Slack request and writes
 * the request where it claimed it. Pressed on a button (`unlessOpen`): BEGIN, two statements and COMMIT,
 * holding a connection for little. The first claims the Slack request, takes the id and tries the lock
 * that orders presses of the button (serialised per incident and action, so of two presses at once one
 * opens it). The second, whose snapshot follows the lock, looks for the same request open, and else writes
 * the request. An id is taken only for a press that holds the claim and the lock: nearly always opened.
 */
async function openRequest(pool: pg.Pool, input: NewRequest): Promise<ActionRequest> {
  const pressed = input.unlessOpen === true && input.incidentId !== null;
  if (!pressed) {
    const claim = slackRequestClaim('$12');
    const { rows } = await pool.query<{ claimed: boolean } & ActionRequest>({
      name: 'action-requests-open-command',
      text: `WITH ${claim.cte}, ${requestWrites("nextval(pg_get_serial_sequence('action_requests', 'id'))", claim.claimed)}
       SELECT ${claim.claimed} AS claimed, r.* FROM (SELECT 1) AS one LEFT JOIN request r ON true`,
      values: [...requestValues(input), input.requestKey],
    });
    const { claimed, ...request } = rows[0]!;
    if (!claimed) throw new ApprovalError('ALREADY_HANDLED', ALREADY_HANDLED);
    return request as ActionRequest;
  }
  // Most presses of such a button come once its request is open: refused at once, without a transaction.
  await refuseIfSeenOpen(pool, input, input.requestKey);
  const claim = slackRequestClaim('$1');
  return inTransaction(pool, async (db) => {
    const { rows: claimed } = await db.query<{ claimed: boolean; locked: boolean; id: number | null }>({
      name: 'action-requests-open-claim',
      text: `WITH ${claim.cte}, lock AS (
         -- Tried, not waited for: a press waiting for it would hold a pooled connection all the while.
         SELECT pg_try_advisory_xact_lock(hashtextextended('action-request:' || $2 || ':' || $3, 0)) AS locked
       )
       SELECT ${claim.claimed} AS claimed, l.locked,
              CASE WHEN l.locked AND ${claim.claimed}
                   THEN nextval(pg_get_serial_sequence('action_requests', 'id'))::int END AS id
         FROM lock l`,
      values: [input.requestKey, input.incidentId, `${input.service}/${input.action}`],
    });
    const { claimed: isNew, locked, id } = claimed[0]!;
    if (!isNew) throw new ApprovalError('ALREADY_HANDLED', ALREADY_HANDLED);
    if (!locked) throw new AnotherPressFirst();
    const { rows } = await db.query<{ open: { id: number; requested_by: string } | null } & ActionRequest>({
      name: 'action-requests-open',
      text: `WITH open AS (${OPEN_ALIKE} ORDER BY id LIMIT 1), ${requestWrites('$12', 'NOT EXISTS (SELECT 1 FROM open)')}
       SELECT (SELECT to_jsonb(open) FROM open) AS open, r.* FROM (SELECT 1) AS one LEFT JOIN request r ON true`,
      values: [...requestValues(input), id],
    });
    const { open, ...request } = rows[0]!;
    if (open) throw alreadyRequested(open);
    return request as ActionRequest;
  });
}

/**
 * Why running `definition` now would not be what `request` asked for, as the summary to refuse it with;
 * undefined when it would be. The stored params are checked against today's schema (which a newer bot may
 * check more strictly), then the action's digest against the one pinned when it was requested.
 */
export function actionChangedSince(
  request: Pick<ActionRequest, 'params' | 'actionDigest'>,
  definition: ActionDefinition,
  since: 'requested' | 'approved',
): string | undefined {
  const raw = Object.entries(request.params).map(([name, value]) => [name, String(value)]);
  const checked = validateParams(
    definition.params,
    Object.fromEntries(raw),
    optionParamsOf(definition.driver),
  );
  const why = !checked.ok
    ? checked.problems.join('; ')
    : // Made before digests were recorded: what its approvers saw is unknown, so it is refused rather than
      // run on its params alone. Only requests open across that upgrade are asked for again.
      request.actionDigest === null
      ? 'it was requested before the bot recorded what each request approves'
      : request.actionDigest !== actionDigest(definition)
        ? 'its driver, params, timeout or kind in the catalog'
        : undefined;
  return why && `the action changed since it was ${since} (${why}); a new request is needed`;
}

export async function recordDryRun(
  pool: pg.Pool,
  id: number,
  ok: boolean,
  output: string,
): Promise<ActionRequest> {
  return inTransaction(pool, async (db) => {
    const request = await loadRequest(db, id, true);
    if (request.dryRunStatus !== 'running') return request;
    const { rows } = await db.query<ActionRequest>(
      `UPDATE action_requests SET dry_run_status = $2, dry_run_output = $3, version = version + 1, updated_at = now()
        WHERE id = $1 RETURNING ${COLUMNS}`,
      [id, ok ? 'ok' : 'failed', output],
    );
    const shown = rows[0]!;
    // A dry run that fails ends the request: there is nothing safe to approve.
    if (ok || shown.status !== 'pending') return shown;
    return transition(db, shown, 'failed', 'incident-bot', {
      detail: 'dry run failed',
      set: "summary = 'dry run failed', finished_at = now()",
    });
  });
}

export interface VoteOutcome {
  request: ActionRequest;
  /** approved / rejected: this vote decided it; recorded: more approvals are needed. */
  decided: 'approved' | 'rejected' | 'recorded';
  approvals: number;
}

/**
 * Records one person's vote. The request row is locked for the decision, so twenty people clicking
 * Approve at once make one approval and nineteen answers that it is already approved.
 */
export async function castVote(
  pool: pg.Pool,
  id: number,
  userId: string,
  decision: 'approve' | 'reject',
  // Runs inside the transaction, holding the row lock: it must not wait for anything (Slack least).
  checkVoter: (request: ActionRequest) => void,
): Promise<VoteOutcome> {
  return inTransaction(pool, async (db) => {
    const request = await loadRequest(db, id, true);
    const ref = requestRef(id);
    if (request.status !== 'pending')
      throw new ApprovalError('NOT_PENDING', `${ref} is ${request.status}; it takes no more votes.`);
    if (request.expired)
      throw new ApprovalError(
        'EXPIRED',
        `${ref} expired at ${request.expiresAt.toISOString()}; request it again.`,
      );
    if (request.dryRunStatus === 'running')
      throw new ApprovalError(
        'DRY_RUN_PENDING',
        `${ref} is still running its dry run; vote once it is shown.`,
      );
    checkVoter(request);
    const inserted = await db.query(
      'INSERT INTO action_votes (request_id, user_id, decision) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING',
      [id, userId, decision],
    );
    if (inserted.rowCount === 0)
      throw new ApprovalError('ALREADY_VOTED', `You have already voted on ${ref}.`);
    await onTimeline(db, request, 'action_voted', userId, { decision });
    const approvedBy = approversOf(await loadVotes(db, id));
    const approvals = approvedBy.length;
    if (decision === 'reject') {
      const rejected = await transition(db, request, 'rejected', userId, {
        set: 'finished_at = now()',
        timeline: { kind: 'action_rejected' },
      });
      return { request: rejected, decided: 'rejected', approvals };
    }
    if (approvals >= request.requiredApprovals) {
      const approved = await transition(db, request, 'approved', userId, {
        detail: `${approvals} of ${request.requiredApprovals} approvals`,
        timeline: { kind: 'action_approved', data: { approvedBy } },
      });
      return { request: approved, decided: 'approved', approvals };
    }
    // Not decided yet, but the message must show the new vote.
    const { rows } = await db.query<ActionRequest>(
      `UPDATE action_requests SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
      [id],
    );
    return { request: rows[0]!, decided: 'recorded', approvals };
  });
}

/** The requester withdraws a request nobody has started running. */
export async function cancelRequest(
  pool: pg.Pool,
  id: number,
  userId: string,
  requestKey: string,
): Promise<ActionRequest> {
  // One statement, without a transaction, as an incident's changes: the row stays locked for it alone, and
  // a refusal writes nothing, the Slack request's key included.
  const claim = slackRequestClaim('$3', 'EXISTS (SELECT 1 FROM locked WHERE may_cancel)');
  const { rows } = await pool.query<
    { locked: { requester: string; was: RequestStatus } | null } & (ActionRequest | { id: null })
  >({
    name: 'action-requests-cancel',
    text: `WITH locked AS (
         -- Waits for the row, and then reads it as it is (a vote may have moved it meanwhile).
         SELECT id AS locked_id, status AS was, version AS was_version, requested_by AS requester,
                requested_by = $2 AND status IN ('pending', 'approved') AS may_cancel
           FROM action_requests WHERE id = $1 FOR UPDATE
       ), ${claim.cte}, moved AS (
         UPDATE action_requests SET status = 'cancelled', version = version + 1, updated_at = now(), finished_at = now()
           FROM locked l
          WHERE id = l.locked_id AND l.may_cancel AND ${claim.claimed}
          RETURNING ${COLUMNS}
       ), event AS (
         INSERT INTO action_request_events (request_id, actor, from_status, to_status, from_version, to_version)
         SELECT m.id, $2, l.was, 'cancelled', l.was_version, m.version FROM moved m, locked l
       ), entry AS (
         INSERT INTO timeline_entries (incident_id, kind, actor, data)
         SELECT "incidentId", 'action_cancelled', $2,
                ${timelineDataSql('moved')} FROM moved WHERE "incidentId" IS NOT NULL
       )
       SELECT (SELECT jsonb_build_object('requester', requester, 'was', was) FROM locked) AS locked, m.*
         FROM (SELECT 1) AS one LEFT JOIN moved m ON true`,
    values: [id, userId, requestKey],
  });
  const { locked, ...request } = rows[0]!;
  if (request.id !== null) return request as ActionRequest;
  const ref = requestRef(id);
  if (await slackRequestSeen(pool, requestKey)) throw new ApprovalError('ALREADY_HANDLED', ALREADY_HANDLED);
  if (!locked) throw new ApprovalError('REQUEST_NOT_FOUND', `There is no action request ${ref}.`);
  if (locked.requester !== userId)
    throw new ApprovalError(
      'NOT_REQUESTER',
      `Only <@${locked.requester}>, who requested ${ref}, can cancel it.`,
    );
  if (locked.was !== 'pending' && locked.was !== 'approved')
    throw new ApprovalError('NOT_PENDING', `${ref} is ${locked.was}; it can no longer be cancelled.`);
  // A bug: the statement's condition and these checks disagree.
  throw new Error(`${ref}: the cancel was not applied`);
}

/**
 * Where PostgreSQL tells of a change to what listWaitingOrRunning reads, as it commits
 * (migrations/026_requests_listed_changed.sql): a read of it may be kept until then (see KeptRead).
 */
export const REQUESTS_LISTED_CHANNEL = 'requests_listed_changed';

export interface ListedRequest {
  id: number;
  action: string;
  service: string;
  status: RequestStatus;
  requestedBy: string;
}

/** The requests waiting for votes or their run, or running, oldest first: the first `limit`. */
export async function listWaitingOrRunning(pool: pg.Pool, limit: number): Promise<ListedRequest[]> {
  const { rows } = await pool.query<ListedRequest>({
    name: 'requests-list-waiting-or-running',
    text: `SELECT id::int AS id, action, service, status, requested_by AS "requestedBy" FROM action_requests
            WHERE status IN ('pending', 'approved', 'running') ORDER BY id LIMIT $1`,
    values: [limit],
  });
  return rows;
}

/**
 * What may be waiting for `service` to be free, oldest first: the runs of approved requests (and of running
 * ones a stopped worker left), and the dry runs of pending ones. The actions worker wakes the first whose
 * job waits when a run or dry run gives the service back.
 */
export async function waitingForService(
  pool: pg.Pool,
  service: string,
): Promise<Array<{ kind: 'run' | 'dry-run'; requestId: number }>> {
  const { rows } = await pool.query<{ kind: 'run' | 'dry-run'; requestId: number }>(
    `SELECT CASE WHEN status = 'pending' THEN 'dry-run' ELSE 'run' END AS kind, id::int AS "requestId"
       FROM action_requests
      WHERE service = $1
        AND (status IN ('approved', 'running') OR (status = 'pending' AND dry_run_status = 'running'))
      ORDER BY id LIMIT 100`,
    [service],
  );
  return rows;
}

/**
 * What each open request needs from the actions worker, oldest first, a page at a time: a run (approved,
 * or running with its run to be looked at), its expiry, or its dry run. Requests waiting for votes need
 * nothing and are left out: a page of them once hid every newer request from the sweep.
 */
export function requestsDue(
  pool: pg.Pool,
): AsyncGenerator<{ kind: 'run' | 'expire' | 'dry-run'; requestId: number }> {
  return keysetPages(
    async (after, limit) =>
      (
        await pool.query<{ kind: 'run' | 'expire' | 'dry-run'; requestId: number }>(
          `SELECT CASE WHEN status <> 'pending' THEN 'run' WHEN expires_at <= now() THEN 'expire' ELSE 'dry-run' END
                  AS kind, id::int AS "requestId"
             FROM action_requests
            WHERE status IN ('pending', 'approved', 'running') AND id > $1
              AND (status <> 'pending' OR expires_at <= now() OR dry_run_status = 'running')
            ORDER BY id LIMIT $2`,
          [after, limit],
        )
      ).rows,
    (job) => job.requestId,
  );
}

/** Moves a still-pending request past its expiry to expired; false when there was nothing to do. */
export async function expireRequest(pool: pg.Pool, id: number): Promise<boolean> {
  return inTransaction(pool, async (db) => {
    const request = await loadRequest(db, id, true);
    if (request.status !== 'pending' || !request.expired) return false;
    await transition(db, request, 'expired', 'incident-bot', {
      set: 'finished_at = now()',
      timeline: { kind: 'action_expired' },
    });
    return true;
  });
}

/**
 * Claims a request for running: approved → running. One found `running` was being run by a worker that
 * stopped: if its driver had not started, nothing touched the target and it runs; if it had, it runs again
 * only when `rerunStarted` (an idempotent action set to retry), else it is failed as interrupted.
 */
export async function beginRun(
  pool: pg.Pool,
  id: number,
  rerunStarted: boolean,
): Promise<{ run: true; request: ActionRequest } | { run: false; request: ActionRequest }> {
  return inTransaction(pool, async (db) => {
    const request = await loadRequest(db, id, true);
    const claim = async (detail?: string) => ({
      run: true as const,
      request: await transition(db, request, 'running', 'incident-bot', {
        ...(detail ? { detail } : {}),
        set: 'started_at = now(), driver_started_at = NULL, attempts = attempts + 1',
      }),
    });
    if (request.status === 'approved') return claim();
    if (request.status !== 'running') return { run: false, request };
    if (!request.driverStartedAt) return claim('resumed: its driver had not started');
    if (rerunStarted) return claim('interrupted run started again: the action is idempotent');
    return { run: false, request: await failInterrupted(db, request, 'the worker running it stopped') };
  });
}

/**
 * The step that lets the driver start: from here the run counts as having touched the target. False when
 * the request moved meanwhile (it is not this run's any more).
 */
export async function markDriverStarted(pool: pg.Pool, request: ActionRequest): Promise<boolean> {
  const { rowCount } = await pool.query(
    `UPDATE action_requests SET driver_started_at = now()
      WHERE id = $1 AND status = 'running' AND version = $2 AND driver_started_at IS NULL`,
    [request.id, request.version],
  );
  return rowCount === 1;
}

/** running → approved: the run failed before its driver started, so it may simply run again. */
export async function returnToApproved(pool: pg.Pool, request: ActionRequest, why: string): Promise<void> {
  await inTransaction(pool, (db) =>
    transition(db, request, 'approved', 'incident-bot', {
      detail: `the run did not start: ${why}`,
      set: 'driver_started_at = NULL',
    }),
  );
}

/** running → failed for a run whose driver started and did not finish: nobody knows what it did. */
async function failInterrupted(
  db: pg.ClientBase,
  request: ActionRequest,
  why: string,
): Promise<ActionRequest> {
  const summary = `interrupted: ${why}; check the target before requesting it again`;
  return transition(db, request, 'failed', 'incident-bot', {
    detail: 'interrupted',
    set: 'summary = $5, finished_at = now()',
    params: [summary],
    timeline: { kind: 'action_failed', data: { summary: 'interrupted' } },
  });
}

/**
 * Records how a run ended, with what it changed: a degradation action's success turns the service's
 * degradation on or off in the same transaction, so the record never says one without the other.
 */
export async function finishRun(
  pool: pg.Pool,
  request: ActionRequest,
  result: { ok: boolean; summary: string; output: string; exitCode?: number },
  degradation?: 'enable' | 'disable',
): Promise<ActionRequest> {
  return inTransaction(pool, async (db) => {
    if (result.ok && degradation) await recordDegradation(db, request, degradation);
    const approvedBy = approversOf(await loadVotes(db, request.id));
    return transition(db, request, result.ok ? 'succeeded' : 'failed', 'incident-bot', {
      detail: result.summary,
      set: 'summary = $5, output = $6, exit_code = $7, finished_at = now()',
      params: [result.summary, result.output, result.exitCode ?? null],
      timeline: {
        kind: result.ok ? 'action_succeeded' : 'action_failed',
        data: { by: request.requestedBy, approvedBy, outcome: result.summary },
      },
    });
  });
}
