import { inTransaction } from '../db/pool.js';
import { incidentRef } from '../primitives/ids.js';
import type { Severity } from '../primitives/severity.js';
import { slackDate, userMention } from '../render/mrkdwn.js';
import { IncidentError } from './errors.js';
import { bumpVersion, type ChangeResult, claimRequest, type LifecycleDeps } from './lifecycle.js';
import { addTimelineEntries } from './timeline.js';

/**
 * Acknowledging says "I have it" about an incident an alert opened: nobody is chased for it any more
 * (escalation stops), and how long that took is measured. A declared incident has its owner from the
 * start, so it has nothing to acknowledge and is left out of the measure. Reopening clears it.
 */

export interface Acknowledgement extends ChangeResult {
  severity: Severity;
  /** From the incident opening (or reopening) to now. */
  afterMs: number;
}

export async function acknowledgeIncident(
  deps: Pick<LifecycleDeps, 'pool' | 'effects'>,
  incidentId: number,
  by: string,
  requestKey?: string,
): Promise<Acknowledgement> {
  const ref = incidentRef(incidentId);
  const result = await inTransaction(deps.pool, async (db) => {
    await claimRequest(db, requestKey);
    const { rows } = await db.query<{
      state: 'open' | 'resolved';
      severity: Severity;
      alert_born: boolean;
      declared_by: string | null;
      acknowledged_by: string | null;
      acknowledged_at: Date | null;
      after_ms: number;
    }>(
      `SELECT state, severity, group_key IS NOT NULL AS alert_born, declared_by, acknowledged_by,
              acknowledged_at, (extract(epoch FROM now() - opened_at) * 1000)::float8 AS after_ms
         FROM incidents WHERE id = $1 FOR UPDATE`,
      [incidentId],
    );
    const incident = rows[0];
    if (!incident) throw new IncidentError('INCIDENT_NOT_FOUND', `There is no incident ${ref}.`);
    if (!incident.alert_born) {
      const who = incident.declared_by ? ` by ${userMention(incident.declared_by)}` : '';
      throw new IncidentError(
        'NOT_ALERT_BORN',
        `${ref} was declared${who}: a declared incident has its owner from the start, so there is nothing to acknowledge. Take command with \`/incident assign ${ref} commander @you\`.`,
      );
    }
    if (incident.state === 'resolved')
      throw new IncidentError('ALREADY_RESOLVED', `${ref} is already resolved.`);
    if (incident.acknowledged_by) {
      const who = incident.acknowledged_by === by ? 'You' : userMention(incident.acknowledged_by);
      throw new IncidentError(
        'ALREADY_ACKNOWLEDGED',
        `${who} acknowledged ${ref} already, ${slackDate(incident.acknowledged_at!)}.`,
      );
    }
    const afterMs = Math.max(0, Math.round(incident.after_ms));
    await addTimelineEntries(db, incidentId, [
      { kind: 'incident_acknowledged', actor: by, data: { afterMs } },
    ]);
    const version = await bumpVersion(db, incidentId, 'acknowledged_by = $2, acknowledged_at = now()', [by]);
    return { version, severity: incident.severity, afterMs };
  });
  await deps.effects.changed(incidentId, result.version);
  await deps.effects.acknowledged(incidentId);
  return { incidentId, ref, ...result };
}
