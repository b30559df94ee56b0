import type { Queue } from 'bullmq';
import type pg from 'pg';
import { keysetPages } from '../db/keysetPages.js';
import { slackRequestClaim } from '../db/slackRequests.js';
import { enqueueHealthCheck, type HealthJob } from '../queues/healthJobs.js';
import type { ServiceHealth } from './checks.js';

/**
 * Health checks someone asked for (migrations/033_health_requests.sql), kept in PostgreSQL until their
 * result is in Slack: its post is looked up rather than made twice (postOnce, keyed by the request), and
 * a request whose job Redis lost, or that failed every try through an outage, is queued again by the
 * workers' sweep. One that keeps failing otherwise is given up (migrations/037_health_request_outcome.sql),
 * and stays due until who asked is told so (040).
 */

export interface HealthRequest {
  services: string[];
  /** Only these checks of each service (a playbook's check button); all of them when left out. */
  checks?: string[];
  channelId: string;
  /** The thread it was asked in (an incident's root, for its buttons). */
  threadTs?: string;
  requestedBy: string;
  /** The incident they are run for: its timeline records them, and a shared channel gets them in its thread. */
  incidentId?: number;
}

export type HealthResult = Array<{ service: string; result: ServiceHealth }>;

/** A request still to post, and where its result goes now. */
export interface PendingHealthRequest extends HealthRequest {
  id: number;
  /** The checks' result, once run and not yet posted. */
  result: HealthResult | null;
  /** The incident's group and common labels, which fill the checks' `{{labels.name}}` placeholders. */
  labels: Record<string, string>;
  /**
   * Where the result goes: the thread asked in, else for an incident shown in this shared channel its
   * root's thread, read now; `waitingForRoot` (how long the incident has been open) while that root is
   * not in Slack yet.
   */
  place: { threadTs?: string } | { waitingForRoot: number };
}

const COLUMNS = 'request_key, services, checks, channel_id, thread_ts, requested_by, incident_id';
/** A row of health_requests, as COLUMNS lists it. */
const rowOf = (requestKey: string, request: HealthRequest) => [
  requestKey,
  request.services,
  request.checks ?? null,
  request.channelId,
  request.threadTs ?? null,
  request.requestedBy,
  request.incidentId ?? null,
];

/**
 * Claims the Slack request that asked (`requestKey`: a replay of it is refused) and records the request,
 * in one statement, then queues its job. False, with nothing done, for a replay. One that cannot be
 * queued is forgotten, its claim given back: the person is told it failed, and may ask again.
 */
export async function requestHealthChecks(
  deps: { pool: pg.Pool; health: Queue<HealthJob> },
  request: HealthRequest,
  requestKey: string,
): Promise<boolean> {
  const { cte, claimed } = slackRequestClaim('$1');
  const { rows } = await deps.pool.query<{ id: number }>(
    `WITH ${cte}
     INSERT INTO health_requests (${COLUMNS})
     SELECT $1, $2, $3, $4, $5, $6, $7 WHERE ${claimed} RETURNING id::int AS id`,
    rowOf(requestKey, request),
  );
  const requestId = rows[0]?.id;
  if (requestId === undefined) return false;
  try {
    await enqueueHealthCheck(deps.health, { kind: 'requested', requestId });
  } catch (err) {
    // Given back unless the database is away too: then the error is what the person hears of.
    await deps.pool
      .query(
        `WITH request AS (DELETE FROM health_requests WHERE id = $1)
         DELETE FROM slack_requests WHERE request_key = $2`,
        [requestId, requestKey],
      )
      .catch(() => {});
    throw err;
  }
  return true;
}

/**
 * A job an older version queued, before health_requests: it carries the request itself (RequestedChecks
 * then). It is claimed and recorded now, keyed by the job: a retry before its result is posted finds the
 * same row; one after (a stalled job run again) finds the claim and no row, and posts nothing more.
 */
export async function recordOlderRequest(
  pool: pg.Pool,
  jobId: string,
  request: HealthRequest,
): Promise<number | undefined> {
  const { cte, claimed } = slackRequestClaim('$1');
  const { rows } = await pool.query<{ id: number }>(
    `WITH ${cte}, recorded AS (
       INSERT INTO health_requests (${COLUMNS}) SELECT $1, $2, $3, $4, $5, $6, $7 WHERE ${claimed} RETURNING id
     )
     SELECT id::int AS id FROM recorded
     UNION ALL SELECT id::int AS id FROM health_requests WHERE request_key = $1`,
    rowOf(`job:${jobId}`, request),
  );
  return rows[0]?.id;
}

/** The request, unless its result is posted (or it was given up). */
export async function pendingHealthRequest(
  db: pg.ClientBase | pg.Pool,
  id: number,
): Promise<PendingHealthRequest | undefined> {
  const { rows } = await db.query<
    Omit<PendingHealthRequest, 'place'> & { threadTs: string | null; waitingForRoot: number | null }
  >(
    `SELECT r.id::int AS id, r.services, r.checks, r.channel_id AS "channelId", r.requested_by AS "requestedBy",
            r.incident_id::int AS "incidentId", r.result,
            COALESCE(i.group_labels || i.common_labels, '{}'::jsonb) AS labels,
            COALESCE(r.thread_ts, CASE WHEN in_thread THEN i.root_ts END) AS "threadTs",
            CASE WHEN in_thread AND i.root_ts IS NULL
                 THEN extract(epoch FROM now() - i.created_at) * 1000 END AS "waitingForRoot"
       FROM health_requests r
       LEFT JOIN incidents i ON i.id = r.incident_id
       CROSS JOIN LATERAL (SELECT r.thread_ts IS NULL AND i.channel_id = r.channel_id
                                  AND NOT i.dedicated_channel AS in_thread) t
      WHERE r.id = $1 AND r.given_up_at IS NULL`,
    [id],
  );
  const row = rows[0];
  if (!row) return undefined;
  const { threadTs, waitingForRoot, checks, incidentId, ...rest } = row;
  return {
    ...rest,
    ...(checks ? { checks } : {}),
    ...(incidentId !== null ? { incidentId } : {}),
    place:
      waitingForRoot !== null ? { waitingForRoot: Number(waitingForRoot) } : threadTs ? { threadTs } : {},
  };
}

/** Keeps the checks' result for the post's next try; null to run them again at the next. */
export async function keepHealthResult(
  db: pg.ClientBase | pg.Pool,
  id: number,
  result: HealthResult | null,
): Promise<void> {
  await db.query('UPDATE health_requests SET result = $2 WHERE id = $1', [
    id,
    result === null ? null : JSON.stringify(result),
  ]);
}

/**
 * Claims showing the result to who asked, alone, while the message for everyone waits: true for the one
 * try that does, so that neither a later try nor a job the sweep queues anew shows it them again.
 */
export async function claimShownToAsker(db: pg.ClientBase | pg.Pool, id: number): Promise<boolean> {
  const { rowCount } = await db.query(
    'UPDATE health_requests SET shown_to_asker_at = clock_timestamp() WHERE id = $1 AND shown_to_asker_at IS NULL',
    [id],
  );
  return rowCount === 1;
}

/** The request is done with: its result is posted (in the transaction recording it), or Slack refused it. */
export async function endHealthRequest(db: pg.ClientBase | pg.Pool, id: number): Promise<void> {
  await db.query('DELETE FROM health_requests WHERE id = $1', [id]);
}

/**
 * Counts a try of the request that failed for a reason other than an outage, with its `error`; the
 * `limit`-th gives the request up (to this try alone), with the channel it was asked in. Undefined when the
 * request was done with already (posted, refused, or given up by another try).
 */
export async function recordHealthFailure(
  db: pg.ClientBase | pg.Pool,
  id: number,
  error: string,
  limit: number,
): Promise<{ tryAgain: true } | { givenUp: { channelId: string } } | undefined> {
  const { rows } = await db.query<{ givenUp: boolean; channelId: string }>(
    `UPDATE health_requests
        SET failures = failures + 1, error = $2,
            given_up_at = CASE WHEN failures + 1 >= $3 THEN clock_timestamp() END
      WHERE id = $1 AND given_up_at IS NULL
      RETURNING given_up_at IS NOT NULL AS "givenUp", channel_id AS "channelId"`,
    // Kept storable whatever threw it: a NUL would make this UPDATE fail on every try, for ever.
    [id, error.replaceAll('\0', '\\0').slice(0, 2000), limit],
  );
  const row = rows[0];
  if (!row) return undefined;
  return row.givenUp ? { givenUp: { channelId: row.channelId } } : { tryAgain: true };
}

/** A request given up, with what who asked is to be told of it. */
export interface GivenUpHealthRequest {
  services: string[];
  channelId: string;
  threadTs: string | null;
  requestedBy: string;
  /** Why its last try failed. */
  error: string;
}

/**
 * Claims telling who asked that the request is given up: the request, for the one try that tells them;
 * undefined when it is not given up, or they were told (migrations/040_health_given_up_told.sql). Claimed
 * before the notice is sent, as an ephemeral cannot be looked up: a crash after sending it does not send
 * it again.
 */
export async function claimGivenUpNotice(
  db: pg.ClientBase | pg.Pool,
  id: number,
): Promise<GivenUpHealthRequest | undefined> {
  const { rows } = await db.query<GivenUpHealthRequest>(
    `UPDATE health_requests SET given_up_told_at = clock_timestamp()
      WHERE id = $1 AND given_up_at IS NOT NULL AND given_up_told_at IS NULL
      RETURNING services, channel_id AS "channelId", thread_ts AS "threadTs", requested_by AS "requestedBy",
                error`,
    [id],
  );
  return rows[0];
}

/** Gives the claim back: Slack did not take the notice (an outage, a rate limit), so it is sent again. */
export async function releaseGivenUpNotice(db: pg.ClientBase | pg.Pool, id: number): Promise<void> {
  await db.query('UPDATE health_requests SET given_up_told_at = NULL WHERE id = $1', [id]);
}

/**
 * Requests whose result is not posted yet, and not given up, or given up and who asked not told yet,
 * oldest first, however many: the sweep queues them again.
 */
export function healthRequestsDue(pool: pg.Pool): AsyncGenerator<number> {
  return keysetPages(
    async (after, limit) =>
      (
        await pool.query<{ id: number }>(
          `SELECT id::int AS id FROM health_requests
            WHERE given_up_told_at IS NULL AND id > $1 ORDER BY id LIMIT $2`,
          [after, limit],
        )
      ).rows.map((r) => r.id),
    (id) => id,
  );
}
