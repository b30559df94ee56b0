import type pg from 'pg';

/** What happened to an incident; the thread and the post-mortem are told from these. */
export type TimelineKind =
  | 'incident_opened'
  | 'alert_firing'
  | 'alert_resolved'
  | 'severity_changed'
  | 'incident_resolved';

export interface NewTimelineEntry {
  kind: TimelineKind;
  actor: string;
  data: Record<string, unknown>;
}

export interface TimelineEntry extends NewTimelineEntry {
  id: number;
  createdAt: Date;
}

export const ALERTMANAGER_ACTOR = 'alertmanager';

export async function addTimelineEntries(
  db: pg.ClientBase,
  incidentId: number,
  entries: ReadonlyArray<NewTimelineEntry>,
): Promise<void> {
  if (entries.length === 0) return;
  await db.query(
    `INSERT INTO timeline_entries (incident_id, kind, actor, data)
     SELECT $1, e.kind, e.actor, e.data
       FROM jsonb_to_recordset($2::jsonb) AS e(kind text, actor text, data jsonb)`,
    [incidentId, JSON.stringify(entries)],
  );
}

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
  return rows.map((row) => ({
    id: Number(row.id),
    kind: row.kind,
    actor: row.actor,
    data: row.data,
    createdAt: row.created_at,
  }));
}

/** Records which Slack message showed the entries up to `lastId`. */
export async function markEntriesPosted(
  db: pg.ClientBase,
  incidentId: number,
  lastId: number,
  slackTs: string,
): Promise<void> {
  await db.query(
    'UPDATE timeline_entries SET slack_ts = $3 WHERE incident_id = $1 AND id <= $2 AND slack_ts IS NULL',
    [incidentId, lastId, slackTs],
  );
}
