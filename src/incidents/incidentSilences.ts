import type pg from 'pg';
import type { SilenceMatcher } from '../alertmanager/alertmanagerApi.js';

/**
 * An incident's silence in Alertmanager, as the bot recorded it (table incident_silences). At most one
 * per incident is live; an ended one stays as history. Extending may make Alertmanager replace the
 * silence with a new id: the row is updated in place to the id it returned (the timeline keeps the old).
 */
export interface IncidentSilence {
  silenceId: string;
  incidentId: number;
  matchers: SilenceMatcher[];
  startsAt: Date;
  endsAt: Date;
  /** Slack user id. */
  silencedBy: string;
  reason: string;
}

const SILENCE_COLUMNS = `silence_id AS "silenceId", incident_id::int AS "incidentId", matchers,
  starts_at AS "startsAt", ends_at AS "endsAt", silenced_by AS "silencedBy", reason`;

/** The incident's live silence, if any (one whose end has passed counts until its end is recorded). */
export async function activeSilence(
  db: pg.ClientBase | pg.Pool,
  incidentId: number,
): Promise<IncidentSilence | undefined> {
  const { rows } = await db.query<IncidentSilence>(
    `SELECT ${SILENCE_COLUMNS} FROM incident_silences WHERE incident_id = $1 AND state = 'live'`,
    [incidentId],
  );
  return rows[0];
}
