import type pg from 'pg';
import type { PostIntent } from './slackPostIntents.js';

/**
 * What a look through a channel's history or a thread's replies saw of the bot's own messages
 * (migrations/008_slack_history_scans.sql), shared by every worker so that one look settles many posts
 * whose outcome is unknown. When a scan may answer for a post is src/slack/postOnce.ts's rule; this
 * module stores scans and applies the bounds it is given.
 */

export interface HistoryScan {
  channelId: string;
  /** The thread whose replies were read; null for the channel's history. */
  threadTs: string | null;
  /** The scan saw every message posted after this time. */
  oldest: Date;
  /** When the scan began, on the database's clock (from scanWindow). */
  scannedAt: Date;
  /** The bot's messages it saw, each with its message's ts, by foundKey(event type, nonce). */
  found: Record<string, string>;
}

/** How a scan's `found` names a message: its metadata's event type and nonce. */
export function foundKey(eventType: string, nonce: string): string {
  return `${eventType}/${nonce}`;
}

/**
 * Where a scan made now for `intent` should start: the oldest intent still pending in the same channel
 * (or thread), but no further back than `maxBackMs` before `intent`'s own; and the database's time now,
 * read before the scan asks Slack anything.
 */
export async function scanWindow(
  db: pg.ClientBase,
  intent: PostIntent,
  maxBackMs: number,
): Promise<{ from: Date; now: Date }> {
  const { rows } = await db.query<{ from: Date | null; now: Date }>(
    `SELECT least(min(recorded_at), $3::timestamptz) AS "from", clock_timestamp() AS now
       FROM slack_post_intents
      WHERE channel_id = $1 AND thread_ts IS NOT DISTINCT FROM $2
        AND recorded_at >= $3::timestamptz - $4 * interval '1 millisecond'`,
    [intent.channelId, intent.threadTs, intent.recordedAt, maxBackMs],
  );
  const row = rows[0]!;
  return { from: row.from ?? intent.recordedAt, now: row.now };
}

/** Stores a complete scan, and forgets scans made more than `keepMs` ago. */
export async function recordHistoryScan(db: pg.ClientBase, scan: HistoryScan, keepMs: number): Promise<void> {
  await db.query(
    `INSERT INTO slack_history_scans (channel_id, thread_ts, oldest, scanned_at, found)
     VALUES ($1, $2, $3, $4, $5::jsonb)`,
    [scan.channelId, scan.threadTs ?? '', scan.oldest, scan.scannedAt, JSON.stringify(scan.found)],
  );
  await db.query(`DELETE FROM slack_history_scans WHERE scanned_at < now() - $1 * interval '1 millisecond'`, [
    keepMs,
  ]);
}

/**
 * The answer a stored scan gives for `intent` (still pending, as recorded): the newest scan of its channel
 * (or thread) that saw everything after `intent.recordedAt - coverBackMs` and began after Slack answered
 * its attempt, or more than `startedAfterMs` after `intent.recordedAt` when no answer came. `{ ts }` when
 * the scan saw its message, `{ ts: undefined }` when it did not; undefined when no stored scan may answer.
 */
export async function answerFromScans(
  db: pg.ClientBase,
  intent: PostIntent,
  bounds: { coverBackMs: number; startedAfterMs: number },
): Promise<{ ts: string | undefined } | undefined> {
  // Compared in SQL with the intent's stored recorded_at, at the database's full precision.
  const { rows } = await db.query<{ ts: string | null }>(
    `SELECT s.found ->> (i.event_type || '/' || i.nonce::text) AS ts
       FROM slack_post_intents i
       JOIN slack_history_scans s
         ON s.channel_id = i.channel_id AND s.thread_ts = coalesce(i.thread_ts, '')
        AND s.oldest <= i.recorded_at - $4 * interval '1 millisecond'
        AND s.scanned_at > coalesce(i.answered_at, i.recorded_at + $5 * interval '1 millisecond')
      WHERE i.event_type = $1 AND i.subject_id = $2 AND i.nonce = $3::uuid
      ORDER BY s.scanned_at DESC
      LIMIT 1`,
    [intent.eventType, intent.subjectId, intent.nonce, bounds.coverBackMs, bounds.startedAfterMs],
  );
  const row = rows[0];
  return row ? { ts: row.ts ?? undefined } : undefined;
}
