import type pg from 'pg';
import { IncidentError } from '../incidents/errors.js';
import { type Incident, loadSnapshot } from '../incidents/incidentStore.js';
import { addLogContext } from '../observability/logContext.js';
import { incidentRef } from '../primitives/ids.js';

/** The message a button sits on, as the bot recorded it posting it; null until it is posted. */
export interface ButtonMessage {
  channelId: string | null;
  ts: string | null;
}

/**
 * True when a click came from `message`. A click names the message it came from four times (channel.id,
 * container.channel_id, container.message_ts, message.ts); all four must agree, since a forged click
 * can set each of them.
 */
export function isClickOn(click: unknown, message: ButtonMessage): boolean {
  const c = click as {
    channel?: { id?: unknown };
    container?: { channel_id?: unknown; message_ts?: unknown };
    message?: { ts?: unknown };
  };
  const { channelId, ts } = message;
  return (
    channelId !== null &&
    ts !== null &&
    c.channel?.id === channelId &&
    c.container?.channel_id === channelId &&
    c.container?.message_ts === ts &&
    c.message?.ts === ts
  );
}

/** The incident `id` (read from a button's value), if the click came from that incident's root message. */
export async function incidentClickedOn(
  pool: pg.Pool,
  click: unknown,
  id: number | undefined,
): Promise<Incident> {
  if (id === undefined)
    throw new IncidentError('INCIDENT_NOT_FOUND', 'This button does not name an incident.');
  addLogContext({ incidentId: id });
  const snapshot = await loadSnapshot(pool, id, 0);
  if (!snapshot) throw new IncidentError('INCIDENT_NOT_FOUND', `There is no incident ${incidentRef(id)}.`);
  const { incident } = snapshot;
  if (!isClickOn(click, { channelId: incident.channelId, ts: incident.rootTs })) {
    throw new IncidentError(
      'NOT_FROM_MESSAGE',
      `This click does not come from ${incidentRef(id)}'s own message, so it does nothing.`,
    );
  }
  return incident;
}
