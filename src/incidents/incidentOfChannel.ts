import type pg from 'pg';
import { incidentRef } from '../primitives/ids.js';
import type { Severity } from '../primitives/severity.js';
import { IncidentError } from './errors.js';

/**
 * Which incident a command typed in a channel belongs to (/action, /health): the incident whose own
 * channel it is, or the one open incident of a shared channel. With several open there, the person
 * chooses; a slash command does not say which thread it was typed in.
 */

/** The incident a request belongs to, and where its thread is (null until its root is posted). */
export interface BelongingIncident {
  id: number;
  rootTs: string | null;
  /** The channel is the incident's own: its results need no thread to say whose they are. */
  ownChannel: boolean;
}

/** An open incident offered as a choice. */
export interface IncidentChoice {
  id: number;
  severity: Severity;
  title: string;
}

export type ChannelIncidents =
  | { kind: 'none' }
  | { kind: 'one'; incident: BelongingIncident }
  | { kind: 'several'; incidents: IncidentChoice[]; more: number };

/** Choices offered at most: one button each, and a phone screen to read them on. */
export const MAX_CHOICES = 20;

const COLUMNS = `id::int AS id, root_ts AS "rootTs", severity, title, dedicated_channel AS "ownChannel"`;

type Row = BelongingIncident & IncidentChoice;
const belonging = ({ id, rootTs, ownChannel }: Row): BelongingIncident => ({ id, rootTs, ownChannel });

export async function incidentsOfChannel(pool: pg.Pool, channelId: string): Promise<ChannelIncidents> {
  // An incident's own channel is its, open or resolved; one shown in a shared channel because Slack
  // refused or did not make its own is no longer dedicated (moveToFallbackChannel): one of its open ones.
  const { rows } = await pool.query<Row>(
    `SELECT ${COLUMNS} FROM incidents
      WHERE channel_id = $1 AND (state = 'open' OR dedicated_channel)
      ORDER BY dedicated_channel DESC, id DESC LIMIT $2`,
    [channelId, MAX_CHOICES + 1],
  );
  const own = rows.find((r) => r.ownChannel);
  if (own) return { kind: 'one', incident: belonging(own) };
  if (rows.length === 0) return { kind: 'none' };
  if (rows.length === 1) return { kind: 'one', incident: belonging(rows[0]!) };
  const { rows: counted } = await pool.query<{ open: number }>(
    "SELECT count(*)::int AS open FROM incidents WHERE channel_id = $1 AND state = 'open'",
    [channelId],
  );
  const incidents = rows.slice(0, MAX_CHOICES).map(({ id, severity, title }) => ({ id, severity, title }));
  return { kind: 'several', incidents, more: Math.max(0, (counted[0]?.open ?? 0) - incidents.length) };
}

/** The incident someone chose among those of `channelId`: still open there, or refused with why. */
export async function chosenIncident(
  pool: pg.Pool,
  channelId: string,
  incidentId: number,
): Promise<BelongingIncident> {
  const { rows } = await pool.query<Row & { channelId: string | null; state: string }>(
    `SELECT ${COLUMNS}, channel_id AS "channelId", state FROM incidents WHERE id = $1`,
    [incidentId],
  );
  const row = rows[0];
  const ref = incidentRef(incidentId);
  if (!row || row.channelId !== channelId)
    throw new IncidentError('INCIDENT_NOT_FOUND', `${ref} is not an incident of this channel.`);
  if (row.state !== 'open') throw new IncidentError('ALREADY_RESOLVED', `${ref} is already resolved.`);
  return belonging(row);
}
