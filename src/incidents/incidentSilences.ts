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

/** A live silence with what extending it needs too. */
export interface StoredSilence extends IncidentSilence {
  /** The [incident-bot …] marker of its comment. */
  marker: string;
}

export const SILENCE_COLUMNS = `silence_id AS "silenceId", incident_id::int AS "incidentId", matchers,
  starts_at AS "startsAt", ends_at AS "endsAt", silenced_by AS "silencedBy", reason`;

/**
 * The live silence of the incident row `i`, with its marker, as JSON (storedSilenceOf reads it): for a
 * statement that reads it with the incident.
 */
export const LIVE_SILENCE_JSON = `(SELECT row_to_json(s) FROM (
  SELECT ${SILENCE_COLUMNS}, marker FROM incident_silences WHERE incident_id = i.id AND state = 'live') s)`;

/** What is shown of a silence: not its marker, which only finding it again needs. */
export function publicSilence({ marker: _, ...silence }: StoredSilence): IncidentSilence {
  return silence;
}

export function storedSilenceOf(
  json: Omit<StoredSilence, 'startsAt' | 'endsAt'> & { startsAt: string; endsAt: string },
): StoredSilence {
  return { ...json, startsAt: new Date(json.startsAt), endsAt: new Date(json.endsAt) };
}

/** The incident's live silence, if any (one whose end has passed counts until its end is recorded). */
export async function activeSilence(
  db: pg.ClientBase | pg.Pool,
  incidentId: number,
): Promise<IncidentSilence | undefined> {
  const { rows } = await db.query<IncidentSilence>({
    name: 'active-silence',
    text: `SELECT ${SILENCE_COLUMNS} FROM incident_silences WHERE incident_id = $1 AND state = 'live'`,
    values: [incidentId],
  });
  return rows[0];
}

export async function liveSilence(db: pg.ClientBase, incidentId: number): Promise<StoredSilence | undefined> {
  const { rows } = await db.query<StoredSilence>(
    `SELECT ${SILENCE_COLUMNS}, marker FROM incident_silences WHERE incident_id = $1 AND state = 'live'`,
    [incidentId],
  );
  return rows[0];
}

/** Every live silence's incident and end (before `before`, when given): when each end is to be recorded. */
export async function liveSilenceEnds(
  db: pg.ClientBase | pg.Pool,
  before?: Date,
): Promise<Array<{ incidentId: number; endsAt: Date }>> {
  const { rows } = await db.query<{ incidentId: number; endsAt: Date }>(
    `SELECT incident_id::int AS "incidentId", ends_at AS "endsAt" FROM incident_silences
      WHERE state = 'live' AND ($1::timestamptz IS NULL OR ends_at < $1)`,
    [before ?? null],
  );
  return rows;
}

/**
 * Whether the bot recorded this Alertmanager silence for any incident, live or ended: by its id, or by its
 * marker, which a silence Alertmanager replaced (an extension it took before a crash) keeps.
 */
export async function silenceRecorded(
  db: pg.ClientBase,
  silence: { silenceId: string; marker: string },
): Promise<boolean> {
  const { rows } = await db.query('SELECT 1 FROM incident_silences WHERE silence_id = $1 OR marker = $2', [
    silence.silenceId,
    silence.marker,
  ]);
  return rows.length > 0;
}

/**
 * The labels all of the incident row `i`'s firing alerts share now (all its alerts, when none fires), as
 * JSON: what Alertmanager's commonLabels would be for its group today. incidents.common_labels holds
 * only its first notification's, where a single alert made `instance` look common; the two are
 * intersected, since that notification's may cover alerts it left out (max_alerts). Read when a silence
 * is proposed or set, not kept up to date by the webhook.
 */
export const SHARED_LABELS_JSON = `(SELECT coalesce(jsonb_object_agg(c.key, c.value), '{}'::jsonb)
  FROM jsonb_each_text(i.common_labels) c
 WHERE NOT EXISTS (
   SELECT 1 FROM alerts a
    WHERE a.incident_id = i.id AND a.labels->>c.key IS DISTINCT FROM c.value
      AND (a.status = 'firing'
           OR NOT EXISTS (SELECT 1 FROM alerts f WHERE f.incident_id = i.id AND f.status = 'firing'))))`;

/**
 * Whether an attempt to set or extend a silence of the incident row `i` was left behind (see
 * recordSilenceAttempt), or kept by an extension that found the recorded silence replaced or gone:
 * Alertmanager may then hold a silence of it that was never recorded, and the next change looks
 * through Alertmanager's silences for it.
 */
export const SILENCE_ATTEMPTS_LEFT = 'EXISTS (SELECT 1 FROM silence_attempts WHERE incident_id = i.id)';

export async function silenceAttemptsLeft(db: pg.ClientBase, incidentId: number): Promise<boolean> {
  const { rows } = await db.query<{ left: boolean }>(
    `SELECT ${SILENCE_ATTEMPTS_LEFT} AS left FROM incidents i WHERE id = $1`,
    [incidentId],
  );
  return rows[0]?.left ?? false;
}

/**
 * Committed before Alertmanager is asked to set or extend the silence with this marker, on a connection of
 * its own: what a crash between its answer and the record's commit leaves behind. One left already stays.
 */
export async function recordSilenceAttempt(db: pg.Pool, incidentId: number, marker: string): Promise<void> {
  await db.query(
    'INSERT INTO silence_attempts (marker, incident_id) VALUES ($1, $2) ON CONFLICT (marker) DO NOTHING',
    [marker, incidentId],
  );
}

/** Records the incident's silence, and forgets the attempts that led to it. */
export async function recordSilence(db: pg.ClientBase, silence: StoredSilence): Promise<void> {
  await db.query(
    `WITH forgotten AS (DELETE FROM silence_attempts WHERE incident_id = $1)
     INSERT INTO incident_silences (incident_id, silence_id, marker, matchers, starts_at, ends_at, silenced_by, reason)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
    [
      silence.incidentId,
      silence.silenceId,
      silence.marker,
      JSON.stringify(silence.matchers),
      silence.startsAt,
      silence.endsAt,
      silence.silencedBy,
      silence.reason,
    ],
  );
}

/**
 * The live silence now has this id (Alertmanager's answer to an update) and end; with `forgetAttempts`,
 * the incident's attempts are forgotten too.
 */
export async function recordSilenceExtended(
  db: pg.ClientBase,
  incidentId: number,
  silence: { silenceId: string; endsAt: Date; matchers: readonly SilenceMatcher[] },
  { forgetAttempts = false } = {},
): Promise<void> {
  await db.query(
    `WITH forgotten AS (DELETE FROM silence_attempts WHERE incident_id = $1 AND $5)
     UPDATE incident_silences SET silence_id = $2, ends_at = $3, matchers = $4
      WHERE incident_id = $1 AND state = 'live'`,
    [incidentId, silence.silenceId, silence.endsAt, JSON.stringify(silence.matchers), forgetAttempts],
  );
}

/**
 * The live silence ended: lifted by `endedBy` now, or (null) its end passed. Its extensions' attempts
 * go with it: a silence with its marker is a recorded one's, never taken over by the next press.
 */
export async function recordSilenceEnded(
  db: pg.ClientBase,
  incidentId: number,
  endedBy: string | null,
): Promise<void> {
  await db.query(
    `WITH ended AS (
       UPDATE incident_silences SET state = 'ended', ended_by = $2,
              ended_at = CASE WHEN $2::text IS NULL THEN LEAST(ends_at, now()) ELSE now() END
        WHERE incident_id = $1 AND state = 'live'
       RETURNING marker)
     DELETE FROM silence_attempts WHERE marker IN (SELECT marker FROM ended)`,
    [incidentId, endedBy],
  );
}
