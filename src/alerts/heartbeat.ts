import type pg from 'pg';
import type { HeartbeatConfig } from './configSchema.js';
import type { Alert, WebhookPayload } from './payload.js';

/**
 * The heartbeat (config `heartbeat`, migrations/014_heartbeats.sql): an alert that always fires, whose
 * deliveries prove that alerts reach the bot. It is never an incident. When it stays away longer than
 * `expectEvery`, a gap is recorded and Slack is told the alerting pipeline is silent; when it arrives
 * again, the gap ends and Slack is told it is back. Each is decided by one guarded statement, so that
 * replicas checking at once record, and tell, each once.
 */

/**
 * A notification without the heartbeat's alerts (undefined when nothing else is left), and whether one of
 * them was firing. Alertmanager groups by whatever its route says, so the heartbeat may come with real
 * alerts: they are ingested as if it had never been in the group.
 */
export function separateHeartbeat(
  payload: WebhookPayload,
  alertname: string,
): { beat: boolean; rest?: WebhookPayload } {
  const isHeartbeat = (a: Alert) => a.labels.alertname === alertname;
  const beats = payload.alerts.filter(isHeartbeat);
  if (beats.length === 0) return { beat: false, rest: payload };
  const beat = beats.some((a) => a.status === 'firing');
  const alerts = payload.alerts.filter((a) => !isHeartbeat(a));
  if (alerts.length === 0) return { beat };
  // Some alerts were left out (truncated): what they have in common with the rest, and whether they fire,
  // the notification no longer tells. Otherwise Alertmanager's common labels and annotations are recomputed
  // for the rest, as is its status, which said "firing" because the heartbeat fired.
  if (payload.truncatedAlerts > 0) return { beat, rest: { ...payload, alerts } };
  return {
    beat,
    rest: {
      ...payload,
      alerts,
      commonLabels: shared(alerts.map((a) => a.labels)),
      commonAnnotations: shared(alerts.map((a) => a.annotations)),
      status: alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved',
    },
  };
}

/** The pairs every record has, as Alertmanager computes commonLabels. */
function shared(records: ReadonlyArray<Record<string, string>>): Record<string, string> {
  const [first, ...others] = records;
  const common: Record<string, string> = Object.create(null);
  for (const [key, value] of Object.entries(first ?? {}))
    if (others.every((r) => Object.hasOwn(r, key) && r[key] === value)) common[key] = value;
  return common;
}

/**
 * Records a delivery of the heartbeat, on the webhook's path: one statement. Returns the gap it ended, if
 * one was open, so that Slack is told at once; one it misses (recorded by a check at the same instant)
 * is ended by the next check.
 */
export async function recordHeartbeat(db: pg.Pool, alertname: string): Promise<number | undefined> {
  // The heartbeat's row is locked before the gap's (the UPDATE needs `seen`), as the check locks them.
  const { rows } = await db.query<{ id: number }>(
    `WITH seen AS (
       INSERT INTO heartbeats (alertname, last_seen_at) VALUES ($1, now())
       ON CONFLICT (alertname) DO UPDATE SET last_seen_at = now()
       RETURNING alertname
     )
     UPDATE heartbeat_gaps SET ended_at = now()
      WHERE alertname = (SELECT alertname FROM seen) AND ended_at IS NULL
     RETURNING id::int AS id`,
    [alertname],
  );
  return rows[0]?.id;
}

/** How often the check runs: a gap is told at most this late. A tenth of expectEvery, from 1 s to 30 s. */
export function checkEveryMs(expectEvery: number): number {
  return Math.min(30_000, Math.max(1000, Math.round(expectEvery / 10)));
}

/**
 * The periodic check: starts the clock for a heartbeat never seen, ends the open gap when it has been seen
 * since, and records a gap when it has been away for `expectEvery`. Returns the gaps it ended and found:
 * Slack has news of them. Safe to run on every replica at once.
 */
export async function checkHeartbeat(
  db: pg.Pool,
  heartbeat: HeartbeatConfig,
  channelId: string,
): Promise<{ ended: number[]; found: number[] }> {
  await db.query(
    'INSERT INTO heartbeats (alertname, last_seen_at) VALUES ($1, now()) ON CONFLICT (alertname) DO NOTHING',
    [heartbeat.alertname],
  );
  // First, so that a heartbeat that came back and went away again between two checks ends one gap and
  // opens the next.
  const ended = await db.query<{ id: number }>(
    `UPDATE heartbeat_gaps g SET ended_at = h.last_seen_at FROM heartbeats h
      WHERE g.alertname = $1 AND h.alertname = $1 AND g.ended_at IS NULL AND h.last_seen_at > g.since
     RETURNING g.id::int AS id`,
    [heartbeat.alertname],
  );
  // Checkers finding it at once insert it once: the open-gap index decides. The heartbeat's row is locked,
  // and read again if a delivery moved it meanwhile, so a gap a delivery has just ended is not found anew.
  const found = await db.query<{ id: number }>(
    `WITH overdue AS (
       SELECT alertname, last_seen_at FROM heartbeats
        -- Not now() - expectEvery: the longest expectEvery reaches before the oldest timestamp there is.
        WHERE alertname = $1 AND now() - last_seen_at >= $2::bigint * interval '1 millisecond'
          FOR UPDATE
     )
     INSERT INTO heartbeat_gaps (alertname, since, expect_every_ms, channel_id)
     SELECT alertname, last_seen_at, $2, $3 FROM overdue
     ON CONFLICT (alertname) WHERE ended_at IS NULL DO NOTHING
     RETURNING id::int AS id`,
    [heartbeat.alertname, heartbeat.expectEvery, channelId],
  );
  return { ended: ended.rows.map((r) => r.id), found: found.rows.map((r) => r.id) };
}

/** When the heartbeat last arrived (or the clock started); undefined before the first check. */
export async function heartbeatLastSeen(db: pg.Pool, alertname: string): Promise<Date | undefined> {
  const { rows } = await db.query<{ last_seen_at: Date }>(
    'SELECT last_seen_at FROM heartbeats WHERE alertname = $1',
    [alertname],
  );
  return rows[0]?.last_seen_at;
}

/** What Slack is told of a gap: the heartbeat went missing, then it came back. */
export type GapNews = 'missing' | 'back';

export interface HeartbeatGap {
  id: number;
  alertname: string;
  since: Date;
  expectEveryMs: number;
  channelId: string;
  endedAt: Date | null;
  missingTs: string | null;
  backTs: string | null;
}

export async function loadGap(db: pg.ClientBase, gapId: number): Promise<HeartbeatGap | undefined> {
  const { rows } = await db.query<HeartbeatGap>(
    `SELECT id::int AS id, alertname, since, expect_every_ms::float8 AS "expectEveryMs",
            channel_id AS "channelId", ended_at AS "endedAt", missing_ts AS "missingTs", back_ts AS "backTs"
       FROM heartbeat_gaps WHERE id = $1`,
    [gapId],
  );
  return rows[0];
}

/** A gap with a message still to post (the index heartbeat_gaps_behind_slack). */
const BEHIND_SLACK = 'missing_ts IS NULL OR (ended_at IS NOT NULL AND back_ts IS NULL)';

/** Gaps with a message still to post, and which: the reconcile pass queues their sync. */
export async function gapsBehindSlack(
  db: pg.Pool,
  limit: number,
): Promise<Array<{ id: number; news: GapNews }>> {
  const { rows } = await db.query<{ id: number; news: GapNews }>(
    `SELECT id::int AS id, CASE WHEN missing_ts IS NULL THEN 'missing' ELSE 'back' END AS news
       FROM heartbeat_gaps
      WHERE ${BEHIND_SLACK} ORDER BY id LIMIT $1`,
    [limit],
  );
  return rows;
}

/**
 * The gap and the earlier gaps of its channel with a message still to post, oldest first: told in that
 * order, an earlier gap's "back" never lands after a later gap's "silent".
 */
export async function gapsToTellUpTo(db: pg.ClientBase, gapId: number): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>(
    `SELECT id::int AS id FROM heartbeat_gaps
      WHERE id <= $1 AND channel_id = (SELECT channel_id FROM heartbeat_gaps WHERE id = $1)
        AND (${BEHIND_SLACK})
      ORDER BY id`,
    [gapId],
  );
  return rows.map((r) => r.id);
}
