import { inTransaction } from '../db/pool.js';
import { ALREADY_HANDLED, slackRequestClaim } from '../db/slackRequests.js';
import { incidentRef } from '../primitives/ids.js';
import type { Severity } from '../primitives/severity.js';
import { slackDate, userMention } from '../render/mrkdwn.js';
import { IncidentError } from './errors.js';
import type { ChangeResult, LifecycleDeps } from './lifecycle.js';

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
  const claim = slackRequestClaim('$1');
  // One statement takes the request's key, the incident's row once locked and, when it may be acknowledged,
  // the acknowledgement and its timeline entry: the row stays locked for that statement and the commit, not
  // for a round trip per step (everyone paged clicks at once). A refusal throws; the rollback gives the key back.
  const result = await inTransaction(deps.pool, async (db) => {
    const { rows } = await db.query<{
      claimed: boolean;
      state: 'open' | 'resolved' | null;
      severity: Severity;
      alert_born: boolean;
      declared_by: string | null;
      acknowledged_by: string | null;
      acknowledged_at: Date | null;
      after_ms: number;
      version: number | null;
    }>({
      name: 'incidents-acknowledge',
      text: `WITH ${claim.cte}, locked AS (
         -- Waits for the row, then reads it as it is (a delivery may have reopened it, or someone acknowledged
         -- it, meanwhile): the update tests l, not i, which is read as of the statement's start.
         SELECT id, state, severity, group_key IS NOT NULL AS alert_born, declared_by, acknowledged_by,
                acknowledged_at, greatest(0, floor(extract(epoch FROM now() - opened_at) * 1000 + 0.5))::float8 AS after_ms
           FROM incidents WHERE id = $2 FOR UPDATE
       ), acknowledged AS (
         UPDATE incidents i
            SET version = version + 1, updated_at = now(), acknowledged_by = $3, acknowledged_at = now()
           FROM locked l
          WHERE i.id = l.id AND l.alert_born AND l.state = 'open' AND l.acknowledged_by IS NULL
            AND ${claim.claimed}
          RETURNING i.version
       ), entry AS (
         INSERT INTO timeline_entries (incident_id, kind, actor, data)
         SELECT $2, 'incident_acknowledged', $3, jsonb_build_object('afterMs', l.after_ms::bigint)
           FROM locked l, acknowledged
       )
       SELECT ${claim.claimed} AS claimed, l.state, l.severity, l.alert_born, l.declared_by, l.acknowledged_by,
              l.acknowledged_at, l.after_ms, a.version
         FROM (SELECT 1) AS one LEFT JOIN locked l ON true LEFT JOIN acknowledged a ON true`,
      values: [requestKey ?? null, incidentId, by],
    });
    const incident = rows[0]!;
    if (!incident.claimed) throw new IncidentError('ALREADY_HANDLED', ALREADY_HANDLED);
    if (incident.state === null)
      throw new IncidentError('INCIDENT_NOT_FOUND', `There is no incident ${ref}.`);
    if (!incident.alert_born) {
      const who = incident.declared_by ? ` by ${userMention(incident.declared_by)}` : '';
      throw new IncidentError(
        'NOT_ALERT_BORN',
        `${ref} was declared${who}: a declared incident has its owner from the start, so there is nothing to acknowledge. Take command with \`/incident assign ${ref} commander @you\`.`,
      );
    }
    if (incident.state === 'resolved')
      throw new IncidentError('ALREADY_RESOLVED', `${ref} is already resolved.`);
    if (incident.acknowledged_by !== null) {
      const who = incident.acknowledged_by === by ? 'You' : userMention(incident.acknowledged_by);
      throw new IncidentError(
        'ALREADY_ACKNOWLEDGED',
        `${who} acknowledged ${ref} already, ${slackDate(incident.acknowledged_at!)}.`,
      );
    }
    // The checks above and the update's condition must agree: a refusal the update made alone is a bug.
    if (incident.version === null) throw new Error(`${ref}: the acknowledgement was not applied`);
    return { version: incident.version, severity: incident.severity, afterMs: incident.after_ms };
  });
  await deps.effects.changed(incidentId, result.version);
  await deps.effects.acknowledged(incidentId);
  return { incidentId, ref, ...result };
}
