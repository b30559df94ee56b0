import type pg from 'pg';

/**
 * Posts about to be made to Slack (migrations/006_slack_post_intents.sql). An intent is recorded before
 * chat.postMessage and forgotten in the transaction that records the posted message, so one found later
 * is a post whose outcome is unknown.
 */

/**
 * The longest a post attempt can last, from its intent's recording to Slack's last chance to take it:
 * the Web API client gives up after SLACK_CALL_TIMEOUT_MS (10 s), and the rest is margin for a request
 * still crossing Slack's front end when the client stopped waiting, and for Slack's history to list a
 * message it has taken. When Slack did not answer the attempt, a stored scan answers for another post
 * only if it began this long after that post's intent was recorded. An update unanswered may land as late.
 */
export const POST_ATTEMPT_MAX_MS = 30_000;

/** What a message shows, as its metadata's event_type. */
export type PostEventType =
  | 'incident_root'
  | 'incident_entry'
  | 'action_request'
  | 'heartbeat_missing'
  | 'heartbeat_back'
  | 'playbook_checks'
  | 'health_result'
  | 'incident_announcement';

export interface PostIntent {
  eventType: PostEventType;
  /**
   * The incident (incident_root, incident_entry, playbook_checks, incident_announcement), action request, heartbeat gap
   * (heartbeat_…) or health request (health_result).
   */
  subjectId: number;
  nonce: string;
  channelId: string;
  threadTs: string | null;
  /** The version of the incident or request the message shows. */
  version: number;
  /** The timeline entries the message shows. */
  entryIds: number[];
  recordedAt: Date;
  /** When Slack answered the attempt with a 5xx; null when no answer came. */
  answeredAt: Date | null;
}

const COLUMNS = `event_type AS "eventType", subject_id::int AS "subjectId", nonce::text AS nonce,
  channel_id AS "channelId", thread_ts AS "threadTs", version, entry_ids::int[] AS "entryIds",
  recorded_at AS "recordedAt", answered_at AS "answeredAt"`;

export async function findPostIntent(
  db: pg.ClientBase | pg.Pool,
  eventType: PostEventType,
  subjectId: number,
): Promise<PostIntent | undefined> {
  const { rows } = await db.query<PostIntent>(
    `SELECT ${COLUMNS} FROM slack_post_intents WHERE event_type = $1 AND subject_id = $2`,
    [eventType, subjectId],
  );
  return rows[0];
}

/** Records an intent with a fresh nonce, in place of any earlier one for the same subject. */
export async function recordPostIntent(
  db: pg.ClientBase,
  intent: Omit<PostIntent, 'nonce' | 'recordedAt' | 'answeredAt'>,
): Promise<PostIntent> {
  const { rows } = await db.query<PostIntent>(
    `INSERT INTO slack_post_intents (event_type, subject_id, nonce, channel_id, thread_ts, version, entry_ids)
     VALUES ($1, $2, gen_random_uuid(), $3, $4, $5, $6::bigint[])
     ON CONFLICT (event_type, subject_id) DO UPDATE
       SET nonce = excluded.nonce, channel_id = excluded.channel_id, thread_ts = excluded.thread_ts,
           version = excluded.version, entry_ids = excluded.entry_ids, recorded_at = now(), answered_at = NULL
     RETURNING ${COLUMNS}`,
    [intent.eventType, intent.subjectId, intent.channelId, intent.threadTs, intent.version, intent.entryIds],
  );
  return rows[0]!;
}

/**
 * Slack answered the intent's attempt (with a 5xx): it is over on Slack's side. Dated by the clock, not the
 * transaction's start, which may come before the answer: a scan begun after answered_at answers for it.
 */
export async function markPostAnswered(db: pg.ClientBase, intent: PostIntent): Promise<void> {
  await db.query(
    `UPDATE slack_post_intents SET answered_at = clock_timestamp()
      WHERE event_type = $1 AND subject_id = $2 AND nonce = $3`,
    [intent.eventType, intent.subjectId, intent.nonce],
  );
}

/** Forgets an intent: its message is recorded, or it is known not to have been posted. */
export async function forgetPostIntent(db: pg.ClientBase, intent: PostIntent): Promise<void> {
  await db.query('DELETE FROM slack_post_intents WHERE event_type = $1 AND subject_id = $2 AND nonce = $3', [
    intent.eventType,
    intent.subjectId,
    intent.nonce,
  ]);
}
