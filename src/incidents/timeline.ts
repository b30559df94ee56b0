import type pg from 'pg';
import type { TimelineKind } from '../primitives/timelineKind.js';

export interface NewTimelineEntry {
  kind: TimelineKind;
  actor: string;
  data: Record<string, unknown>;
}

export interface TimelineEntry extends NewTimelineEntry {
  id: number;
  createdAt: Date;
}

export async function addTimelineEntries(
  db: pg.ClientBase | pg.Pool,
  incidentId: number,
  entries: ReadonlyArray<NewTimelineEntry>,
  /** The message that already shows them (a health-check result), so the thread does not tell them again. */
  shownIn?: string,
): Promise<void> {
  if (entries.length === 0) return;
  // Named: prepared once per connection, as every delivery and change adds entries.
  await db.query({
    name: 'add-timeline-entries',
    text: insertEntries('$3'),
    values: [incidentId, JSON.stringify(entries), shownIn ?? null],
  });
}

/** Inserts the entries $2 (a JSON array of NewTimelineEntry) of incident $1, in their order, shown in `shownIn`. */
const insertEntries = (
  shownIn: string,
) => `INSERT INTO timeline_entries (incident_id, kind, actor, data, slack_ts)
     SELECT $1, e.kind, e.actor, e.data, ${shownIn}
       FROM jsonb_to_recordset($2::jsonb) AS e(kind text, actor text, data jsonb)`;

/** The same in the statement that records a change (bumpVersion, ingest): none of its entries is shown yet. */
export const TIMELINE_INSERT = insertEntries('NULL');

/** Entries not yet shown in Slack, oldest first. */
export async function unpostedEntries(
  db: pg.ClientBase,
  incidentId: number,
  limit: number,
): Promise<TimelineEntry[]> {
  const { rows } = await db.query(
    `SELECT id, kind, actor, data, created_at FROM timeline_entries
      WHERE incident_id = $1 AND slack_ts IS NULL ORDER BY id LIMIT $2`,
    [incidentId, limit],
  );
  return rows.map(toEntry);
}

function toEntry(row: {
  id: string;
  kind: TimelineKind;
  actor: string;
  data: Record<string, unknown>;
  created_at: Date;
}): TimelineEntry {
  return { id: Number(row.id), kind: row.kind, actor: row.actor, data: row.data, createdAt: row.created_at };
}

/**
 * Records which Slack message showed these entries. By their ids, never up to one: an entry committed
 * late with a smaller id, or one the message did not show, must still reach the thread.
 */
export async function markEntriesPosted(
  db: pg.ClientBase,
  incidentId: number,
  ids: readonly number[],
  slackTs: string,
): Promise<void> {
  if (ids.length === 0) return;
  await db.query(
    'UPDATE timeline_entries SET slack_ts = $3 WHERE incident_id = $1 AND id = ANY($2::bigint[]) AND slack_ts IS NULL',
    [incidentId, ids, slackTs],
  );
}

/**
 * Where PostgreSQL tells of a change to what an incident's timeline shows, the incident's id as payload
 * (migrations/027_incident_timeline_changed.sql).
 */
export const INCIDENT_TIMELINE_CHANNEL = 'incident_timeline_changed';

/** The newest `limit` entries of an incident, oldest first, and how many there are in all. */
export async function recentEntries(
  db: pg.Pool,
  incidentId: number,
  limit: number,
): Promise<{ entries: TimelineEntry[]; total: number }> {
  const { rows } = await db.query({
    name: 'timeline-recent-entries',
    text: `SELECT * FROM (
             SELECT id, kind, actor, data, created_at, count(*) OVER ()::int AS total FROM timeline_entries
              WHERE incident_id = $1 ORDER BY id DESC LIMIT $2) newest
            ORDER BY id`,
    values: [incidentId, limit],
  });
  return {
    entries: rows.map(toEntry),
    total: rows[0]?.total ?? 0,
  };
}
