import type pg from 'pg';
import type { Severity } from '../primitives/severity.js';
import { type IncidentStats, STATS_LIST_LIMIT } from '../views/incidentStats.js';

/**
 * What /incident stats reports, computed in PostgreSQL. An incident belongs to a period when it opened
 * (or last reopened) in it, and its times run from that opening, as the metrics' do: to acknowledge
 * (alert-born incidents only: a declared one has its owner from the start) and to resolve.
 */

/**
 * Where PostgreSQL tells of a change to what the stats count or name, of any period
 * (migrations/028_incident_stats_changed.sql).
 */
export const INCIDENT_STATS_CHANNEL = 'incident_stats_changed';

// percentile_cont interpolates: the median of 2 min and 4 min is 3 min, as people expect of a median.
const durations = (name: string, seconds: string, when: string) => `
  count(*) FILTER (WHERE ${when})::int AS ${name}_count,
  percentile_cont(0.5) WITHIN GROUP (ORDER BY ${seconds}) FILTER (WHERE ${when}) AS ${name}_median,
  percentile_cont(0.9) WITHIN GROUP (ORDER BY ${seconds}) FILTER (WHERE ${when}) AS ${name}_p90`;
const ACKNOWLEDGED = 'group_key IS NOT NULL AND acknowledged_at IS NOT NULL';

type DurationsRow<N extends string> = Record<`${N}_count`, number> &
  Record<`${N}_median` | `${N}_p90`, number | null>;

/**
 * The stats of the incidents opened since `since`, and when the first of them opened: the period they
 * make up is the same until that opening leaves it. Every statement counts from the one `since`.
 */
export async function incidentStats(
  db: pg.Pool,
  since: Date,
): Promise<{ stats: IncidentStats; firstOpenedAt: Date | null }> {
  const [periods, alerts, open] = await Promise.all([
    db.query<
      {
        severity: Severity | null;
        incidents: number;
        open: number;
        first_opened_at: Date | null;
      } & DurationsRow<'ack'> &
        DurationsRow<'resolve'>
    >({
      name: 'incident-stats-periods',
      text: `SELECT severity, count(*)::int AS incidents, count(*) FILTER (WHERE state = 'open')::int AS open,
              ${durations('ack', 'extract(epoch FROM acknowledged_at - opened_at)::float8', ACKNOWLEDGED)},
              ${durations('resolve', 'extract(epoch FROM resolved_at - opened_at)::float8', "state = 'resolved'")},
              min(opened_at) AS first_opened_at
         FROM incidents WHERE opened_at >= $1
        GROUP BY GROUPING SETS ((), (severity)) ORDER BY severity NULLS FIRST`,
      values: [since],
    }),
    // The alerts that opened an incident were stored in the transaction that created it, whose now()
    // is both its created_at and their first_seen_at; alerts that joined it later have a later one.
    db.query<{ alertname: string; incidents: number }>({
      name: 'incident-stats-alerts',
      text: `SELECT a.alertname, count(DISTINCT i.id)::int AS incidents
         FROM incidents i JOIN alerts a ON a.incident_id = i.id AND a.first_seen_at = i.created_at
        WHERE i.opened_at >= $1 AND i.group_key IS NOT NULL
        GROUP BY a.alertname ORDER BY incidents DESC, a.alertname LIMIT $2`,
      values: [since, STATS_LIST_LIMIT],
    }),
    db.query<IncidentStats['longestOpen'][number] & { total: number }>({
      name: 'incident-stats-longest-open',
      text: `SELECT id::int AS id, severity, title, opened_at AS "openedAt", acknowledged_by AS "acknowledgedBy",
              count(*) OVER ()::int AS total
         FROM incidents WHERE state = 'open' ORDER BY opened_at, id LIMIT $1`,
      values: [STATS_LIST_LIMIT],
    }),
  ]);
  // No incident in the period still gives the line for all of them.
  const all = periods.rows[0]!;
  return {
    stats: {
      bySeverity: periods.rows.map((row) => ({
        ...(row.severity ? { severity: row.severity } : {}),
        incidents: row.incidents,
        open: row.open,
        toAcknowledge: { count: row.ack_count, median: row.ack_median, p90: row.ack_p90 },
        toResolve: { count: row.resolve_count, median: row.resolve_median, p90: row.resolve_p90 },
      })),
      topAlerts: alerts.rows,
      longestOpen: open.rows.map(({ total: _, ...incident }) => incident),
      openTotal: open.rows[0]?.total ?? 0,
    },
    firstOpenedAt: all.first_opened_at,
  };
}
