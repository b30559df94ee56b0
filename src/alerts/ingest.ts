import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { IncidentsConfig } from '../incidents/configSchema.js';
import { type NewTimelineEntry, TIMELINE_INSERT } from '../incidents/timeline.js';
import { ALERTMANAGER_ACTOR } from '../primitives/ids.js';
import { mostUrgent, type Severity } from '../primitives/severity.js';
import type { WebhookPayload } from './payload.js';
import { type AlertRouting, alertSeverity, groupChannel, groupSeverity } from './routing.js';

/**
 * - created: a new incident was opened for the group
 * - reopened: the group's incident, resolved less than alerts.reopenWithin ago, was opened again
 * - updated: the group's open incident changed
 * - duplicate: nothing new (a repeat, or the same notification from another Alertmanager peer)
 * - stale: nothing changed, and some alert was a late copy (see LATE_COPIES)
 * - ignored: a resolved group with no open incident
 */
export type DeliveryOutcome = 'created' | 'reopened' | 'updated' | 'duplicate' | 'stale' | 'ignored';

/** What ingesting needs of the config: routing, and the update intervals a reopened incident resumes. */
export type IngestConfig = AlertRouting & { incidents: Pick<IncidentsConfig, 'updateIntervals'> };

export interface DeliveryResult {
  outcome: DeliveryOutcome;
  /** With the incident's version and severity after this delivery: Slack must show at least that version. */
  incident?: { id: number; version: number; severity: Severity };
  /** False when the root message is known to show this version already: no sync is needed. */
  slackBehind?: boolean;
  /** Reopened with its status updates due again: the reminder to schedule (see IncidentEffects.updateDue). */
  updateDue?: { updateCount: number; dueAt: Date };
  /** Opened or reopened by this delivery: which opening it is (its reopen count), for IncidentEffects.opened. */
  opening?: number;
  /** Resolved by this delivery (its last alert resolved), this long after it opened (or reopened). */
  resolved?: { afterMs: number };
  /**
   * A resolved notification Alertmanager truncated: how many alerts it left out, whose resolution it did
   * not tell, so that the incident stays open for them, and the receiver it was sent to (whose alerts
   * Alertmanager can be asked for, see leftOutAlerts.ts).
   */
  leftOut?: { alerts: number; receiver: string };
}

/**
 * Alertmanager's identity of a notification: the group, its status, each alert's status and start (a new
 * start is a new firing), and how many it left out.
 */
export function deliveryDigest(payload: WebhookPayload): string {
  const pairs = payload.alerts.map((a) => `${a.fingerprint}:${a.status}:${a.startsAt}`).sort();
  return createHash('sha256')
    .update(JSON.stringify([payload.groupKey, payload.status, pairs, payload.truncatedAlerts]))
    .digest('hex');
}

interface OpenIncident {
  id: number;
  version: number;
  slack_behind: boolean;
  severity: Severity;
  last_delivery_digest: string | null;
  truncated_alerts: number;
  /**
   * Since this opening (a reopened incident's earlier life ended at its last resolution), by the database's
   * clock at the transaction's start: what a resolution now says, as the time-to-resolve metric and
   * /incident stats count it.
   */
  after_ms: number;
}

export const AFTER_MS = '(extract(epoch FROM now() - opened_at) * 1000)::float8 AS after_ms';

export interface ChangedAlert {
  fingerprint: string;
  status: 'firing' | 'resolved';
  alertname: string;
  severity: Severity;
  starts_at: Date;
  ends_at: Date | null;
}

/**
 * Ingests one notification, in the caller's transaction (see ingestNextDelivery). The statements every
 * delivery runs are named: each connection prepares them once, and PostgreSQL then skips parsing and
 * planning them. `deliveryId`: the stored delivery it comes from (see shownBeforeResolved); undefined
 * for a payload ingested as it is, as the tests do.
 */
export async function ingestDelivery(
  db: pg.ClientBase,
  config: IngestConfig,
  payload: WebhookPayload,
  deliveryId?: number,
): Promise<DeliveryResult> {
  const digest = deliveryDigest(payload);
  let incident = await lockOpenIncident(db, payload.groupKey);
  if (incident?.last_delivery_digest === digest) return unchanged('duplicate', incident);

  let opened: 'created' | 'reopened' | undefined;
  let reopened: ReopenedIncident | undefined;
  if (!incident) {
    const firing = payload.alerts.filter((a) => a.status === 'firing');
    if (firing.length === 0) {
      await recordLateResolutions(db, payload);
      return { outcome: 'ignored' };
    }
    const late = await lateCopies(db, config, payload);
    if (firing.every((a) => late.has(a.fingerprint))) return { outcome: 'stale' };
    const shown =
      deliveryId === undefined
        ? undefined
        : await shownBeforeResolved(db, payload.groupKey, digest, deliveryId);
    if (shown) return { outcome: 'duplicate', incident: shown, slackBehind: false };
    reopened = await reopenRecentIncident(db, config, payload.groupKey);
    incident = reopened ?? (await insertIncident(db, config, payload, digest));
    if (incident) opened = reopened ? 'reopened' : 'created';
    else {
      // Another peer's delivery opened (or reopened) it between our look and our write: join that one,
      // as it now is.
      incident = await lockOpenIncident(db, payload.groupKey);
      if (!incident) throw new Error(`open incident for group ${payload.groupKey} vanished`);
    }
  }

  // Judged against the incident taken: the resolution, again, of its own alert is not a late copy.
  const { late, changed } = await takeAlerts(db, config, incident.id, payload);
  // Alertmanager's resolved status says every alert of the group resolved, those the bot did not keep
  // included, unless Alertmanager itself left alerts out: it truncates before it works the status out, so
  // it then tells only of those listed, and the rest may still fire. A firing status never says it,
  // whatever it lists. A notification carrying a late copy is itself late.
  const resolvedNotification = payload.status === 'resolved' && late.size === 0;
  const groupResolved = resolvedNotification && !payload.alertmanagerTruncated;
  const leftOut = resolvedNotification && payload.alertmanagerTruncated === true;
  if (groupResolved) changed.push(...(await resolveRemainingAlerts(db, incident.id, payload)));
  const resolves = groupResolved && (await countFiring(db, incident.id)) === 0;

  // How much of the group the notification left out is news too; a late copy's count is not.
  const truncatedAlerts = late.size === 0 ? payload.truncatedAlerts : incident.truncated_alerts;
  if (!opened && changed.length === 0 && !resolves && truncatedAlerts === incident.truncated_alerts) {
    // A late copy's digest is not recorded: the same alerts and statuses may come again as news.
    if (late.size > 0) return unchanged('stale', incident);
    await db.query('UPDATE incidents SET last_delivery_digest = $2 WHERE id = $1', [incident.id, digest]);
    return unchanged('duplicate', incident);
  }

  const entries: NewTimelineEntry[] = [];
  if (opened === 'created') {
    entries.push({
      kind: 'incident_opened',
      actor: ALERTMANAGER_ACTOR,
      data: { groupKey: payload.groupKey, receiver: payload.receiver, severity: incident.severity },
    });
  }
  if (reopened) {
    entries.push({
      kind: 'incident_reopened',
      actor: ALERTMANAGER_ACTOR,
      data: { reopenCount: reopened.reopen_count, resolvedAt: reopened.resolved_at.toISOString() },
    });
  }
  entries.push(...changed.map(alertChanged));

  const newlyFiring = changed.filter((a) => a.status === 'firing');
  const severity = newlyFiring.map((a) => a.severity).reduce(mostUrgent, incident.severity);
  if (severity !== incident.severity) {
    entries.push({
      kind: 'severity_changed',
      actor: ALERTMANAGER_ACTOR,
      data: { from: incident.severity, to: severity },
    });
  }

  if (resolves) {
    entries.push({
      kind: 'incident_resolved',
      actor: ALERTMANAGER_ACTOR,
      data: { durationMs: incident.after_ms },
    });
  }
  // The change and its entries in one statement.
  const { rows } = await db.query<{ version: number }>({
    name: 'ingest-update-incident',
    text: `WITH entries AS (${TIMELINE_INSERT})
       UPDATE incidents
          SET version = version + 1, severity = $3, last_delivery_digest = $4, updated_at = now(),
              truncated_alerts = $6, state = CASE WHEN $5 THEN 'resolved' ELSE state END,
              resolved_at = CASE WHEN $5 THEN now() ELSE resolved_at END,
              left_out_at = CASE WHEN $7::text IS NOT NULL THEN now() ELSE left_out_at END,
              left_out_receiver = COALESCE($7, left_out_receiver)
        WHERE id = $1
        RETURNING version`,
    values: [
      incident.id,
      JSON.stringify(entries),
      severity,
      late.size === 0 ? digest : null,
      resolves,
      truncatedAlerts,
      // Alertmanager is to be asked which of the alerts it left out still fire (leftOutAlerts.ts).
      leftOut && !resolves ? payload.receiver : null,
    ],
  });
  return {
    outcome: opened ?? 'updated',
    incident: { id: incident.id, version: rows[0]!.version, severity },
    slackBehind: true,
    ...(reopened?.next_update_due_at
      ? { updateDue: { updateCount: reopened.update_count, dueAt: reopened.next_update_due_at } }
      : {}),
    ...(opened ? { opening: reopened?.reopen_count ?? 0 } : {}),
    ...(resolves ? { resolved: { afterMs: incident.after_ms } } : {}),
    ...(leftOut ? { leftOut: { alerts: payload.truncatedAlerts, receiver: payload.receiver } } : {}),
  };
}

/** The timeline's entry for an alert that started firing or resolved. */
export function alertChanged(alert: ChangedAlert): NewTimelineEntry {
  return {
    kind: alert.status === 'firing' ? 'alert_firing' : 'alert_resolved',
    actor: ALERTMANAGER_ACTOR,
    data: {
      fingerprint: alert.fingerprint,
      alertname: alert.alertname,
      severity: alert.severity,
      startsAt: alert.starts_at.toISOString(),
      ...(alert.ends_at ? { endsAt: alert.ends_at.toISOString() } : {}),
    },
  };
}

function unchanged(outcome: 'duplicate' | 'stale', incident: OpenIncident): DeliveryResult {
  return {
    outcome,
    incident: { id: incident.id, version: incident.version, severity: incident.severity },
    slackBehind: incident.slack_behind,
  };
}

async function lockOpenIncident(db: pg.ClientBase, groupKey: string): Promise<OpenIncident | undefined> {
  const { rows } = await db.query<OpenIncident>({
    name: 'ingest-lock-open-incident',
    text: `SELECT id::int AS id, version, root_ts IS NULL OR root_version < version AS slack_behind,
            severity, last_delivery_digest, truncated_alerts, ${AFTER_MS} FROM incidents
      WHERE group_key = $1 AND state = 'open' FOR UPDATE`,
    values: [groupKey],
  });
  return rows[0];
}

interface ReopenedIncident extends OpenIncident {
  reopen_count: number;
  /** When it had been resolved. */
  resolved_at: Date;
  update_count: number;
  next_update_due_at: Date | null;
}

/**
 * The group's last incident, when it showed this notification as the webhook took it and was resolved by
 * hand (its alerts still fire) only after, nothing of the group having been ingested since: a repeat
 * stored then, rather than answered as one (see LastAccepted), says nothing that came after the
 * resolution, and reopens nothing. A repeat stored while the resolution's transaction ran (resolved_at is
 * when it began) is not told apart from one sent after it: it reopens the incident. A resolution that
 * waited for a reopening is dated at that opening, the processed_at of the delivery that reopened it: the
 * `>=` below sees that delivery, so that a repeat of it still reopens, as any repeat ingested since does.
 */
async function shownBeforeResolved(
  db: pg.ClientBase,
  groupKey: string,
  digest: string,
  deliveryId: number,
): Promise<DeliveryResult['incident'] | undefined> {
  const { rows } = await db.query<{ id: number; version: number; severity: Severity }>({
    name: 'ingest-shown-before-resolved',
    text: `SELECT newest.id::int AS id, newest.version, newest.severity FROM (
             SELECT id, version, severity, state, resolved_at, last_delivery_digest FROM incidents
              WHERE group_key = $1 ORDER BY id DESC LIMIT 1
           ) newest, alert_deliveries d
            WHERE d.id = $3 AND newest.state = 'resolved' AND newest.last_delivery_digest = $2
              AND newest.resolved_at > d.received_at
              AND NOT EXISTS (SELECT 1 FROM alert_deliveries o
                               WHERE o.group_key = $1 AND o.id < d.id AND o.processed_at >= newest.resolved_at)`,
    values: [groupKey, digest, deliveryId],
  });
  return rows[0];
}

const UNIQUE_VIOLATION = '23505';

/**
 * Reopens the group's newest incident if it resolved less than alerts.reopenWithin ago: open again,
 * investigating, its resolution and acknowledgement cleared and its escalation from the start (the alert
 * is back: it needs an owner again). Status updates, if people were posting them (or one was due),
 * are due again one interval from now, as resolving had stopped them. Guarded on its state, so that of
 * two peers delivering at once one reopens it and the other finds it open (undefined here).
 */
async function reopenRecentIncident(
  db: pg.ClientBase,
  config: IngestConfig,
  groupKey: string,
): Promise<ReopenedIncident | undefined> {
  const within = config.alerts.reopenWithin;
  if (within === null) return undefined;
  const { rows } = await db.query<{ id: number; resolved_at: Date }>(
    `SELECT id, resolved_at FROM (
       SELECT id::int AS id, state, resolved_at FROM incidents WHERE group_key = $1 ORDER BY id DESC LIMIT 1
     ) newest
      WHERE state = 'resolved' AND resolved_at > now() - $2 * interval '1 millisecond'`,
    [groupKey, within],
  );
  const newest = rows[0];
  if (!newest) return undefined;
  // A delivery that judged the window passed may open a new incident meanwhile: the unique index on
  // open groups then refuses this one, and the savepoint lets the caller join that incident instead.
  await db.query('SAVEPOINT reopen');
  const reopened = await db
    .query<Omit<ReopenedIncident, 'resolved_at'>>(
      `UPDATE incidents
        SET state = 'open', status = 'investigating', resolution = NULL, resolved_at = NULL,
            reopen_count = reopen_count + 1, updated_at = now(), opened_at = now(),
            acknowledged_by = NULL, acknowledged_at = NULL,
            escalation_step = 0, escalation_started_at = NULL, left_out_at = NULL, left_out_receiver = NULL,
            next_update_due_at = CASE WHEN update_count > 0 OR next_update_due_at IS NOT NULL
              THEN now() + ($2::jsonb ->> severity)::bigint * interval '1 millisecond' END
      WHERE id = $1 AND state = 'resolved'
      RETURNING id::int AS id, version, true AS slack_behind, severity, last_delivery_digest,
                truncated_alerts, ${AFTER_MS}, reopen_count, update_count, next_update_due_at`,
      [newest.id, JSON.stringify(config.incidents.updateIntervals)],
    )
    .catch(async (err: unknown) => {
      if ((err as { code?: string }).code !== UNIQUE_VIOLATION) throw err;
      await db.query('ROLLBACK TO SAVEPOINT reopen');
      return { rows: [] };
    });
  return reopened.rows[0] && { ...reopened.rows[0], resolved_at: newest.resolved_at };
}

/** The unique index on open group keys decides between two peers delivering at once. */
async function insertIncident(
  db: pg.ClientBase,
  config: AlertRouting,
  payload: WebhookPayload,
  digest: string,
): Promise<OpenIncident | undefined> {
  const firing = payload.alerts.filter((a) => a.status === 'firing');
  const { rows } = await db.query<OpenIncident>(
    `INSERT INTO incidents (title, severity, group_key, channel_id, group_labels, common_labels,
                            common_annotations, external_url, last_delivery_digest, truncated_alerts)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
     ON CONFLICT (group_key) WHERE state = 'open' AND group_key IS NOT NULL DO NOTHING
     RETURNING id::int AS id, version, true AS slack_behind, severity, last_delivery_digest,
               truncated_alerts, ${AFTER_MS}`,
    [
      incidentTitle(payload).slice(0, 500),
      groupSeverity(config, firing),
      payload.groupKey,
      groupChannel(config, payload),
      payload.groupLabels,
      payload.commonLabels,
      payload.commonAnnotations,
      payload.externalURL || null,
      digest,
      payload.truncatedAlerts,
    ],
  );
  return rows[0];
}

export function incidentTitle(payload: WebhookPayload): string {
  const alertname = payload.groupLabels.alertname ?? payload.commonLabels.alertname;
  const summary = payload.commonAnnotations.summary;
  if (alertname && summary) return `${alertname}: ${summary}`;
  return (
    summary ?? alertname ?? `Alerts for ${Object.values(payload.groupLabels).join(', ') || payload.receiver}`
  );
}

/** The group's ($1) newest record of each alert the CTE `copy` lists. */
const NEWEST_RECORDS = `SELECT DISTINCT ON (a.fingerprint) a.fingerprint, a.incident_id, a.status, a.starts_at,
              a.resolution_recorded_at
         FROM alerts a JOIN incidents i ON i.id = a.incident_id AND i.group_key = $1
        WHERE a.fingerprint IN (SELECT fingerprint FROM copy)
        ORDER BY a.fingerprint, a.incident_id DESC`;

/**
 * The notification's late copies (the CTE `late`), each judged against the group's newest record of that
 * alert: older than it (an earlier startsAt); firing with the startsAt of a resolution the bot stored less
 * than alerts.lateCopyWindow ago; or the resolution, again, of an alert of an incident other than the open
 * one. After the window the alert fires again: the webhook cannot tell a late copy from Prometheus
 * resending, unchanged, an alert Alertmanager resolved for lack of news. Parameters: $1 the group, $2 its
 * alerts (lateCopyValues), $3 the window, $4 the open incident.
 */
const LATE_COPIES = `copy AS (
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS c(fingerprint text, status text, starts_at timestamptz)
     ), newest AS (${NEWEST_RECORDS}), late AS (
       SELECT DISTINCT c.fingerprint FROM copy c JOIN newest a USING (fingerprint)
        WHERE c.starts_at < a.starts_at
           OR (c.starts_at = a.starts_at AND a.status = 'resolved' AND (
                 (c.status = 'firing' AND a.resolution_recorded_at > now() - $3 * interval '1 millisecond')
                 OR (c.status = 'resolved' AND a.incident_id IS DISTINCT FROM $4::bigint)))
     )`;

const lateCopyValues = (config: AlertRouting, payload: WebhookPayload, openIncidentId: number | null) => [
  payload.groupKey,
  JSON.stringify(
    payload.alerts.map((a) => ({ fingerprint: a.fingerprint, status: a.status, starts_at: a.startsAt })),
  ),
  config.alerts.lateCopyWindow ?? 0,
  openIncidentId,
];

/** The notification's late copies, by fingerprint, for a group with no open incident (see LATE_COPIES). */
async function lateCopies(
  db: pg.ClientBase,
  config: AlertRouting,
  payload: WebhookPayload,
): Promise<Set<string>> {
  const { rows } = await db.query<{ fingerprint: string }>({
    name: 'ingest-late-copies',
    text: `WITH ${LATE_COPIES} SELECT fingerprint FROM late`,
    values: lateCopyValues(config, payload, null),
  });
  return new Set(rows.map((r) => r.fingerprint));
}

/**
 * Resolutions of alerts whose incident was resolved (by hand) while they fired: recorded on the group's
 * newest record of each, when it is that firing, so that a late firing copy of them from another peer is
 * known for one (LATE_COPIES) rather than reopening the incident, which nothing would then resolve. What
 * Slack shows of the resolved incident is left as it is.
 */
async function recordLateResolutions(db: pg.ClientBase, payload: WebhookPayload): Promise<void> {
  await db.query({
    name: 'ingest-record-late-resolutions',
    text: `WITH copy AS (
       SELECT * FROM jsonb_to_recordset($2::jsonb) AS c(fingerprint text, starts_at timestamptz, ends_at timestamptz)
     ), newest AS (${NEWEST_RECORDS})
     UPDATE alerts SET status = 'resolved', ends_at = c.ends_at, updated_at = now(), resolution_recorded_at = now()
       FROM newest n JOIN copy c USING (fingerprint)
      WHERE alerts.incident_id = n.incident_id AND alerts.fingerprint = n.fingerprint
        AND n.status = 'firing' AND n.starts_at = c.starts_at`,
    values: [
      payload.groupKey,
      JSON.stringify(
        payload.alerts.map((a) => ({
          fingerprint: a.fingerprint,
          starts_at: a.startsAt,
          ends_at: a.endsAt ?? new Date().toISOString(),
        })),
      ),
    ],
  });
}

/**
 * The notification's alerts into the incident, but for its late copies (LATE_COPIES), in one statement:
 * inserts new alerts and applies status changes, and a newer startsAt for a firing alert (it resolved and
 * fired again unseen). Returns the late copies, and only the alerts that changed.
 */
async function takeAlerts(
  db: pg.ClientBase,
  config: AlertRouting,
  incidentId: number,
  payload: WebhookPayload,
): Promise<{ late: Set<string>; changed: ChangedAlert[] }> {
  // Alertmanager never repeats a fingerprint within one notification, but a hostile body might.
  const unique = new Map(payload.alerts.map((a) => [a.fingerprint, a]));
  const rows = [...unique.values()].map((a) => ({
    fingerprint: a.fingerprint,
    status: a.status,
    alertname: a.labels.alertname ?? '',
    severity: alertSeverity(config, a.labels),
    labels: a.labels,
    annotations: a.annotations,
    starts_at: a.startsAt,
    ends_at: a.status === 'resolved' ? (a.endsAt ?? new Date().toISOString()) : null,
    generator_url: a.generatorURL || null,
  }));
  const result = await db.query<ChangedAlert & { late: boolean }>({
    name: 'ingest-take-alerts',
    text: `WITH ${LATE_COPIES}, changed AS (
       INSERT INTO alerts (incident_id, fingerprint, status, alertname, severity, labels, annotations,
                           starts_at, ends_at, generator_url, resolution_recorded_at)
       SELECT $4::bigint, r.fingerprint, r.status, r.alertname, r.severity, r.labels, r.annotations,
              r.starts_at, r.ends_at, r.generator_url, CASE WHEN r.status = 'resolved' THEN now() END
         FROM jsonb_to_recordset($5::jsonb) AS r(fingerprint text, status text, alertname text, severity text,
              labels jsonb, annotations jsonb, starts_at timestamptz, ends_at timestamptz, generator_url text)
        WHERE NOT EXISTS (SELECT 1 FROM late WHERE late.fingerprint = r.fingerprint)
       ON CONFLICT (incident_id, fingerprint) DO UPDATE
          SET status = EXCLUDED.status, annotations = EXCLUDED.annotations, starts_at = EXCLUDED.starts_at,
              ends_at = EXCLUDED.ends_at, generator_url = EXCLUDED.generator_url, updated_at = now(),
              resolution_recorded_at = EXCLUDED.resolution_recorded_at
        WHERE alerts.status IS DISTINCT FROM EXCLUDED.status
           OR (EXCLUDED.status = 'firing' AND EXCLUDED.starts_at > alerts.starts_at)
       RETURNING fingerprint, status, alertname, severity, starts_at, ends_at
     )
     SELECT false AS late, * FROM changed
     UNION ALL SELECT true, fingerprint, NULL, NULL, NULL, NULL, NULL FROM late`,
    values: [...lateCopyValues(config, payload, incidentId), JSON.stringify(rows)],
  });
  const late = new Set<string>();
  const changed: ChangedAlert[] = [];
  for (const { late: isLate, ...alert } of result.rows) {
    if (isLate) late.add(alert.fingerprint);
    else changed.push(alert);
  }
  return { late, changed };
}

/**
 * A resolved group means every alert in it resolved, including any the bot did not keep of the
 * notification; but not one that started after the notification was made: one started after every alert
 * it lists. When it lists only part of the group, that bound would keep firing, for ever, an unlisted
 * alert that merely started later (Alertmanager lists by labels, not age); then the bound is the last the
 * listed alerts tell of the group, their newest start or end.
 */
async function resolveRemainingAlerts(
  db: pg.ClientBase,
  incidentId: number,
  payload: WebhookPayload,
): Promise<ChangedAlert[]> {
  const told = payload.alerts.flatMap((a) =>
    payload.truncatedAlerts > 0 && a.status === 'resolved' && a.endsAt
      ? [a.startsAt, a.endsAt]
      : [a.startsAt],
  );
  const { rows } = await db.query<ChangedAlert>(
    `UPDATE alerts SET status = 'resolved', ends_at = now(), updated_at = now(), resolution_recorded_at = now()
      WHERE incident_id = $1 AND status = 'firing'
        AND starts_at <= (SELECT max(s) FROM unnest($2::timestamptz[]) AS s)
      RETURNING fingerprint, status, alertname, severity, starts_at, ends_at`,
    [incidentId, told],
  );
  return rows;
}

/** How many of the incident's alerts fire. */
export async function countFiring(db: pg.ClientBase, incidentId: number): Promise<number> {
  const { rows } = await db.query<{ n: number }>({
    name: 'ingest-count-firing',
    text: "SELECT count(*)::int AS n FROM alerts WHERE incident_id = $1 AND status = 'firing'",
    values: [incidentId],
  });
  return rows[0]!.n;
}
