import type pg from 'pg';
import type { Role } from '../primitives/role.js';
import type { Severity } from '../primitives/severity.js';
import {
  type IncidentSilence,
  LIVE_SILENCE_JSON,
  publicSilence,
  storedSilenceOf,
} from './incidentSilences.js';

/** The incident whose root message is at this channel and ts, if any: where its buttons are. */
export async function incidentAtRoot(
  db: pg.Pool,
  channelId: string,
  ts: string,
): Promise<number | undefined> {
  const { rows } = await db.query<{ id: number }>(
    'SELECT id::int AS id FROM incidents WHERE channel_id = $1 AND root_ts = $2',
    [channelId, ts],
  );
  return rows[0]?.id;
}

export interface Incident {
  id: number;
  title: string;
  severity: Severity;
  state: 'open' | 'resolved';
  status: 'investigating' | 'identified' | 'monitoring' | 'resolved';
  impact: string | null;
  affected: string | null;
  eta: string | null;
  resolution: string | null;
  declaredBy: string | null;
  updateCount: number;
  nextUpdateDueAt: Date | null;
  /** Null until the incident's own channel exists (incidents.createChannel). */
  channelId: string | null;
  groupKey: string | null;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  externalUrl: string | null;
  version: number;
  rootTs: string | null;
  rootVersion: number;
  createdAt: Date;
  resolvedAt: Date | null;
  /** Alerts of the group its latest notification did not list (truncated). */
  truncatedAlerts: number;
  /** How many times its group fired again soon after it resolved, reopening it (alerts.reopenWithin). */
  reopenCount: number;
  /** Where the incident belonged when Slack refused the bot there; see slackError. */
  refusedChannelId: string | null;
  /** Slack's error when the incident is shown elsewhere than it belongs (see channelFallback.ts). */
  slackError: string | null;
  /** Its live silence in Alertmanager (src/silences). */
  silence?: IncidentSilence;
  /** Who acknowledged it since it last opened (alert-born incidents only), and when. */
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
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
  /** Slack user ids by role: commander, scribe, comms. */
  roles: Partial<Record<Role, string>>;
  /** Services this incident put into degraded mode that still run that way. */
  degradations: Array<{ service: string; enabledAt: Date }>;
  firing: number;
  resolved: number;
  /** The first alerts to show: firing before resolved, most urgent first, then oldest. */
  alerts: AlertRow[];
}

const ALERT_COLUMNS = `fingerprint, status, alertname, severity, labels, annotations,
  starts_at AS "startsAt", ends_at AS "endsAt", generator_url AS "generatorUrl"`;

/** As PostgreSQL's JSON writes them: its timestamps are text there. */
type AsJson<T> = {
  [K in keyof T]: T[K] extends Date ? string : T[K] extends Date | null ? string | null : T[K];
};

/** The incident's own columns, for `FROM incidents i`. */
const INCIDENT_COLUMNS = `id::int AS id, title, severity, state, status, impact, affected, eta, resolution,
  declared_by AS "declaredBy", update_count AS "updateCount", next_update_due_at AS "nextUpdateDueAt",
  channel_id AS "channelId", group_key AS "groupKey",
  group_labels AS "groupLabels", common_labels AS "commonLabels", external_url AS "externalUrl",
  version, root_ts AS "rootTs", root_version AS "rootVersion", created_at AS "createdAt",
  resolved_at AS "resolvedAt", truncated_alerts AS "truncatedAlerts", reopen_count AS "reopenCount",
  refused_channel_id AS "refusedChannelId", slack_error AS "slackError",
  acknowledged_by AS "acknowledgedBy", acknowledged_at AS "acknowledgedAt",
  ${LIVE_SILENCE_JSON} AS silence`;

/**
 * The snapshot's columns, for `FROM incidents i` alone, its alerts limited to $2: the incident's own
 * columns, the rest as JSON, in one statement that reads as of one instant. The Slack sync's adds its own.
 */
export const SNAPSHOT_COLUMNS = `${INCIDENT_COLUMNS},
  (SELECT count(*)::int FROM alerts WHERE incident_id = i.id AND status = 'firing') AS firing,
  (SELECT count(*)::int FROM alerts WHERE incident_id = i.id AND status = 'resolved') AS resolved,
  (SELECT coalesce(json_agg(a ORDER BY a.status = 'resolved', a.severity, a."startsAt", a.fingerprint), '[]') FROM (
     SELECT ${ALERT_COLUMNS} FROM alerts WHERE incident_id = i.id
      ORDER BY status = 'resolved', severity, starts_at, fingerprint LIMIT $2) a) AS alerts,
  (SELECT coalesce(json_object_agg(role, user_id), '{}') FROM incident_roles
    WHERE incident_id = i.id) AS roles,
  (SELECT coalesce(json_agg(d ORDER BY d.service), '[]') FROM (
     SELECT service, enabled_at AS "enabledAt" FROM service_degradations
      WHERE incident_id = i.id) d) AS degradations`;

/** A row of INCIDENT_COLUMNS, as PostgreSQL answers it. */
type IncidentRow = Omit<Incident, 'silence'> & { silence: Parameters<typeof storedSilenceOf>[0] | null };

function incidentOfRow({ silence, ...incident }: IncidentRow): Incident {
  return silence ? { ...incident, silence: publicSilence(storedSilenceOf(silence)) } : incident;
}

/** A row of SNAPSHOT_COLUMNS, as PostgreSQL answers it. */
export type SnapshotRow = IncidentRow & {
  firing: number;
  resolved: number;
  alerts: AsJson<AlertRow>[];
  roles: Partial<Record<Role, string>>;
  degradations: AsJson<IncidentSnapshot['degradations'][number]>[];
};

export function snapshotOfRow(row: SnapshotRow): IncidentSnapshot {
  const { firing, resolved, alerts, roles, degradations, ...incident } = row;
  return {
    incident: incidentOfRow(incident),
    roles,
    degradations: degradations.map((d) => ({ ...d, enabledAt: new Date(d.enabledAt) })),
    firing,
    resolved,
    alerts: alerts.map((a) => ({
      ...a,
      startsAt: new Date(a.startsAt),
      endsAt: a.endsAt === null ? null : new Date(a.endsAt),
    })),
  };
}

export async function loadSnapshot(
  db: pg.ClientBase | pg.Pool,
  incidentId: number,
  alertLimit: number,
): Promise<IncidentSnapshot | undefined> {
  const { rows } = await db.query<SnapshotRow>({
    name: 'snapshot',
    text: `SELECT ${SNAPSHOT_COLUMNS} FROM incidents i WHERE id = $1`,
    values: [incidentId, alertLimit],
  });
  return rows[0] && snapshotOfRow(rows[0]);
}

/** The incident alone, without what the snapshot adds (its alerts, roles, degradations): a click's or a form's read. */
export async function loadIncident(
  db: pg.ClientBase | pg.Pool,
  incidentId: number,
): Promise<Incident | undefined> {
  const { rows } = await db.query<IncidentRow>({
    name: 'incident',
    text: `SELECT ${INCIDENT_COLUMNS} FROM incidents i WHERE id = $1`,
    values: [incidentId],
  });
  return rows[0] && incidentOfRow(rows[0]);
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

/**
 * The channel where the incident's root message is still to be posted, by a post not yet tried: none once
 * it is posted, while an earlier attempt's outcome is unknown (adopting that post needs no slot), while its
 * dedicated channel is being created, or for no such incident.
 */
export async function channelAwaitingRoot(db: pg.Pool, incidentId: number): Promise<string | undefined> {
  const { rows } = await db.query<{ channel: string }>(
    `SELECT channel_id AS channel FROM incidents i
      WHERE id = $1 AND root_ts IS NULL AND channel_id IS NOT NULL
        AND NOT EXISTS (SELECT 1 FROM slack_post_intents p
                         WHERE p.event_type = 'incident_root' AND p.subject_id = i.id)`,
    [incidentId],
  );
  return rows[0]?.channel;
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
      WHERE i.channel_id IS NOT NULL AND (i.root_ts IS NULL OR i.root_version < i.version)
         OR i.channel_id IS NOT NULL
            AND EXISTS (SELECT 1 FROM timeline_entries t WHERE t.incident_id = i.id AND t.slack_ts IS NULL)
      ORDER BY i.id LIMIT $1`,
    [limit],
  );
  return rows;
}

export interface OpenIncidentSummary {
  id: number;
  title: string;
  severity: Severity;
  status: string;
  channelId: string | null;
  commander: string | null;
  createdAt: Date;
}

/**
 * Where PostgreSQL tells of a change to what listOpenIncidents reads, as it commits
 * (migrations/025_open_incidents_changed.sql): a read of it may be kept until then (see KeptRead).
 */
export const OPEN_INCIDENTS_CHANNEL = 'open_incidents_changed';

/** Open incidents, most urgent first, then oldest; and how many are open. */
export async function listOpenIncidents(
  db: pg.Pool,
  limit: number,
): Promise<{ incidents: OpenIncidentSummary[]; total: number }> {
  // In the order of incidents_open_by_urgency, so that only the first `limit` are read; the count apart
  // (a window count over the rows would read and sort them all).
  const { rows } = await db.query<OpenIncidentSummary & { total: number }>({
    name: 'incidents-list-open',
    text: `SELECT i.id::int AS id, i.title, i.severity, i.status, i.channel_id AS "channelId", r.user_id AS commander,
                  i.created_at AS "createdAt", (SELECT count(*)::int FROM incidents WHERE state = 'open') AS total
             FROM incidents i LEFT JOIN incident_roles r ON r.incident_id = i.id AND r.role = 'commander'
            WHERE i.state = 'open'
            ORDER BY i.severity COLLATE "C", i.created_at, i.id LIMIT $1`,
    values: [limit],
  });
  return { incidents: rows, total: rows[0]?.total ?? 0 };
}

/** Open incidents by severity, for the metrics. */
export async function countOpenIncidents(db: pg.Pool): Promise<Record<string, number>> {
  const { rows } = await db.query<{ severity: string; n: number }>(
    "SELECT severity, count(*)::int AS n FROM incidents WHERE state = 'open' GROUP BY severity",
  );
  return Object.fromEntries(rows.map((r) => [r.severity, r.n]));
}
