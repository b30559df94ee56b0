import { ALREADY_HANDLED, slackRequestClaim, slackRequestSeen } from '../db/slackRequests.js';
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
  // One statement, without a transaction: it takes the incident's row once locked and, when it may be
  // acknowledged, the request's key, the acknowledgement and its timeline entry. The row stays locked for
  // that statement alone (everyone paged clicks at once); a refusal writes nothing, the key included.
  const claim = slackRequestClaim('$1', 'EXISTS (SELECT 1 FROM locked WHERE may_acknowledge)');
  const { rows } = await deps.pool.query<Locked & { version: number | null }>({
    name: 'incidents-acknowledge',
    text: `WITH locked AS (
         -- Waits for the row, then reads it as it is (a delivery may have reopened it, or someone acknowledged
         -- it, meanwhile): the update tests l, not i, which is read as of the statement's start.
         SELECT id, state, severity, group_key IS NOT NULL AS alert_born, declared_by, acknowledged_by,
                acknowledged_at,
                -- Never before it opened, nor its entry before the reopening's: a delivery may have
                -- reopened it after this statement began (now()).
                greatest(now(), opened_at) AS acknowledging_at,
                floor(extract(epoch FROM greatest(now(), opened_at) - opened_at) * 1000 + 0.5)::float8 AS after_ms,
                group_key IS NOT NULL AND state = 'open' AND acknowledged_by IS NULL AS may_acknowledge
           FROM incidents WHERE id = $2 FOR UPDATE
       ), ${claim.cte}, acknowledged AS (
         UPDATE incidents i
            SET version = version + 1, updated_at = now(), acknowledged_by = $3, acknowledged_at = l.acknowledging_at
           FROM locked l
          WHERE i.id = l.id AND l.may_acknowledge AND ${claim.claimed}
          RETURNING i.version
       ), entry AS (
         INSERT INTO timeline_entries (incident_id, kind, actor, data, created_at)
         SELECT $2, 'incident_acknowledged', $3, jsonb_build_object('afterMs', l.after_ms::bigint),
                l.acknowledging_at
           FROM locked l, acknowledged
       )
       SELECT l.state, l.severity, l.alert_born, l.declared_by, l.acknowledged_by, l.acknowledged_at, l.after_ms,
              a.version
         FROM (SELECT 1) AS one LEFT JOIN locked l ON true LEFT JOIN acknowledged a ON true`,
    values: [requestKey ?? null, incidentId, by],
  });
  const incident = rows[0]!;
  if (incident.version === null) {
    // Refused, or its key claimed by a replay: a replay is told nothing more.
    if (await slackRequestSeen(deps.pool, requestKey))
      throw new IncidentError('ALREADY_HANDLED', ALREADY_HANDLED);
    throw refusal(ref, by, incident);
  }
  const result = { version: incident.version, severity: incident.severity, afterMs: incident.after_ms };
  await Promise.all([
    deps.effects.changed(incidentId, result.version),
    deps.effects.acknowledged(incidentId),
  ]);
  return { incidentId, ref, ...result };
}

/** The incident's row as the acknowledgement found it once locked; `state` null when there is none. */
interface Locked {
  state: 'open' | 'resolved' | null;
  severity: Severity;
  alert_born: boolean;
  declared_by: string | null;
  acknowledged_by: string | null;
  acknowledged_at: Date | null;
  after_ms: number;
}

/** Why the incident could not be acknowledged, as it was found. */
function refusal(ref: string, by: string, incident: Locked): Error {
  if (incident.state === null) return new IncidentError('INCIDENT_NOT_FOUND', `There is no incident ${ref}.`);
  if (!incident.alert_born) {
    const who = incident.declared_by ? ` by ${userMention(incident.declared_by)}` : '';
    return new IncidentError(
      'NOT_ALERT_BORN',
      `${ref} was declared${who}: a declared incident has its owner from the start, so there is nothing to acknowledge. Take command with \`/incident assign ${ref} commander @you\`.`,
    );
  }
  if (incident.state === 'resolved')
    return new IncidentError('ALREADY_RESOLVED', `${ref} is already resolved.`);
  if (incident.acknowledged_by !== null) {
    const who = incident.acknowledged_by === by ? 'You' : userMention(incident.acknowledged_by);
    return new IncidentError(
      'ALREADY_ACKNOWLEDGED',
      `${who} acknowledged ${ref} already, ${slackDate(incident.acknowledged_at!)}.`,
    );
  }
  // It could be acknowledged, yet the update did not apply: the checks and its condition disagree, a bug.
  return new Error(`${ref}: the acknowledgement was not applied`);
}
