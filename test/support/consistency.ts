import type pg from 'pg';

/**
 * Incidents whose Slack messages are behind Postgres: no root message, a root showing an older version,
 * or a timeline entry not yet in the thread. 0 means Slack shows everything Postgres holds.
 */
export async function incidentsBehindSlack(db: pg.Pool): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM incidents i
      WHERE i.root_ts IS NULL OR i.root_version < i.version
         OR EXISTS (SELECT 1 FROM timeline_entries t WHERE t.incident_id = i.id AND t.slack_ts IS NULL)`,
  );
  return rows[0]!.n;
}
