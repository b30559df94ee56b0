import type pg from 'pg';
import type { Severity } from '../alerts/severity.js';

/** How people name an incident in Slack and in commands. */
export function incidentRef(id: number): string {
  return `INC-${id}`;
}

export interface Incident {
  id: number;
  title: string;
  severity: Severity;
  state: 'open' | 'resolved';
  channelId: string;
  groupKey: string | null;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  externalUrl: string | null;
  version: number;
  rootTs: string | null;
  rootVersion: number;
  createdAt: Date;
  resolvedAt: Date | null;
}

export interface AlertRow {
  fingerprint: string;
  status: 'firing' | 'resolved';
  alertname: string;
  severity: Severity;
  labels: Record<string, string>;
  annotations: Record<string, string>;
  startsAt: Date;
  endsAt: Date | null;
  generatorUrl: string | null;
}

export interface IncidentSnapshot {
  incident: Incident;
  firing: number;
  resolved: number;
  /** The first alerts to show: firing before resolved, most urgent first, then oldest. */
  alerts: AlertRow[];
}

const ALERT_COLUMNS = `fingerprint, status, alertname, severity, labels, annotations,
  starts_at AS "startsAt", ends_at AS "endsAt", generator_url AS "generatorUrl"`;

export async function loadSnapshot(
  db: pg.ClientBase,
  incidentId: number,
  alertLimit: number,
): Promise<IncidentSnapshot | undefined> {
  const { rows } = await db.query<Incident>(
    `SELECT id::int AS id, title, severity, state, channel_id AS "channelId", group_key AS "groupKey",
            group_labels AS "groupLabels", common_labels AS "commonLabels", external_url AS "externalUrl",
            version, root_ts AS "rootTs", root_version AS "rootVersion", created_at AS "createdAt",
            resolved_at AS "resolvedAt"
       FROM incidents WHERE id = $1`,
    [incidentId],
  );
  const incident = rows[0];
  if (!incident) return undefined;
  const counts = await db.query<{ firing: number; resolved: number }>(
    `SELECT count(*) FILTER (WHERE status = 'firing')::int AS firing,
            count(*) FILTER (WHERE status = 'resolved')::int AS resolved
       FROM alerts WHERE incident_id = $1`,
    [incidentId],
  );
  const alerts = await db.query<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM alerts WHERE incident_id = $1
      ORDER BY status = 'resolved', severity, starts_at, fingerprint LIMIT $2`,
    [incidentId, alertLimit],
  );
  return {
    incident,
    firing: counts.rows[0]!.firing,
    resolved: counts.rows[0]!.resolved,
    alerts: alerts.rows,
  };
}

export async function loadAlerts(
  db: pg.ClientBase,
  incidentId: number,
  fingerprints: string[],
): Promise<AlertRow[]> {
  const { rows } = await db.query<AlertRow>(
    `SELECT ${ALERT_COLUMNS} FROM alerts WHERE incident_id = $1 AND fingerprint = ANY($2::text[])`,
    [incidentId, fingerprints],
  );
  return rows;
}

export async function recordRootMessage(
  db: pg.ClientBase,
  incidentId: number,
  ts: string,
  version: number,
): Promise<void> {
  await db.query('UPDATE incidents SET root_ts = $2, root_version = $3 WHERE id = $1', [
    incidentId,
    ts,
    version,
  ]);
}

export async function recordRootVersion(
  db: pg.ClientBase,
  incidentId: number,
  version: number,
): Promise<void> {
  await db.query('UPDATE incidents SET root_version = GREATEST(root_version, $2) WHERE id = $1', [
    incidentId,
    version,
  ]);
}

/** Incidents whose Slack messages are behind Postgres: what a restarted or recovered worker must finish. */
export async function incidentsBehindSlack(
  db: pg.Pool,
  limit: number,
): Promise<Array<{ id: number; version: number }>> {
  const { rows } = await db.query<{ id: number; version: number }>(
    `SELECT i.id::int AS id, i.version FROM incidents i
      WHERE i.root_ts IS NULL OR i.root_version < i.version
         OR EXISTS (SELECT 1 FROM timeline_entries t WHERE t.incident_id = i.id AND t.slack_ts IS NULL)
      ORDER BY i.id LIMIT $1`,
    [limit],
  );
  return rows;
}
