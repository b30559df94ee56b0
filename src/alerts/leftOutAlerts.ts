import type pg from 'pg';
import type { AlertmanagerApi } from '../alertmanager/alertmanagerApi.js';
import { inTransaction } from '../db/pool.js';
import { bumpVersion } from '../incidents/lifecycle.js';
import { ALERTMANAGER_ACTOR } from '../primitives/ids.js';
import type { Severity } from '../primitives/severity.js';
import { AFTER_MS, alertChanged, type ChangedAlert, countFiring } from './ingest.js';

/**
 * A resolved notification that Alertmanager truncated (its receiver's max_alerts) tells the resolution of
 * the alerts it lists only, and when the whole group resolved at once it is the last notification
 * Alertmanager sends of it. So the bot asks Alertmanager which alerts of the group are still live and
 * resolves the others, and the incident with them once none fires.
 */

export interface LeftOutOutcome {
  /** Slack must show this version: alerts were resolved. */
  version?: number;
  /** The incident resolved, this long after it opened (or reopened). */
  resolved?: { afterMs: number; severity: Severity };
}

export async function resolveLeftOutAlerts(
  pool: pg.Pool,
  alertmanager: AlertmanagerApi,
  incidentId: number,
  receiver: string,
): Promise<LeftOutOutcome> {
  // Asked at the database's clock: an alert changed after it (fired again, say) is not judged by the answer.
  const { rows } = await pool.query<{ groupLabels: Record<string, string>; askedAt: Date }>(
    `SELECT group_labels AS "groupLabels", now() AS "askedAt" FROM incidents
      WHERE id = $1 AND state = 'open' AND group_key IS NOT NULL`,
    [incidentId],
  );
  const incident = rows[0];
  if (!incident) return {};
  const live = await alertmanager.liveAlerts(receiver, incident.groupLabels);
  return inTransaction(pool, async (db) => {
    const open = await db.query<{ after_ms: number; severity: Severity }>(
      `SELECT severity, ${AFTER_MS} FROM incidents WHERE id = $1 AND state = 'open' FOR UPDATE`,
      [incidentId],
    );
    if (!open.rows[0]) return {};
    // The truncated notifications this answers; one that came since keeps its mark, for the sweep.
    await db.query(
      'UPDATE incidents SET left_out_at = NULL, left_out_receiver = NULL WHERE id = $1 AND left_out_at <= $2',
      [incidentId, incident.askedAt],
    );
    const gone = await db.query<ChangedAlert>(
      `UPDATE alerts SET status = 'resolved', ends_at = now(), updated_at = now(), resolution_recorded_at = now()
        WHERE incident_id = $1 AND status = 'firing' AND updated_at <= $2 AND NOT (fingerprint = ANY($3))
        RETURNING fingerprint, status, alertname, severity, starts_at, ends_at`,
      [incidentId, incident.askedAt, [...live]],
    );
    // Resolved once Alertmanager has none of the group live: alerts it left out of every notification,
    // which the bot never had, may be the ones still firing.
    const resolves = live.size === 0 && (await countFiring(db, incidentId)) === 0;
    if (gone.rows.length === 0 && !resolves) return {};
    const { after_ms: afterMs, severity } = open.rows[0];
    const version = await bumpVersion(db, incidentId, {
      entries: [
        ...gone.rows.map(alertChanged),
        ...(resolves
          ? [{ kind: 'incident_resolved' as const, actor: ALERTMANAGER_ACTOR, data: { durationMs: afterMs } }]
          : []),
      ],
      ...(resolves ? { set: "state = 'resolved', resolved_at = now()" } : {}),
    });
    return { version, ...(resolves ? { resolved: { afterMs, severity } } : {}) };
  });
}

/** The open incidents marked for Alertmanager to be asked about, and the receiver to ask for. */
export async function leftOutAlertsDue(
  pool: pg.Pool,
): Promise<Array<{ incidentId: number; receiver: string }>> {
  const { rows } = await pool.query<{ incidentId: number; receiver: string }>(
    `SELECT id::int AS "incidentId", left_out_receiver AS receiver FROM incidents
      WHERE left_out_at IS NOT NULL AND state = 'open' ORDER BY id`,
  );
  return rows;
}
