import type pg from 'pg';
import { findPostIntent } from '../db/slackPostIntents.js';
import { IncidentError } from '../incidents/errors.js';
import { type Incident, loadIncident } from '../incidents/incidentStore.js';
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

/**
 * How long a click waits for the root message it may come from to be recorded. The bot records a root once
 * Slack has answered its post, so a click can arrive first: within milliseconds, longer while the database
 * is busy. Short beside the 3 s Slack gives a form's trigger, which the form's own work needs too.
 */
const ROOT_RECORDED_WAIT_MS = 1000;
const ROOT_RECORDED_POLL_MS = 50;

/** The incident, once its root message is recorded or no post of it is under way (or the wait is over). */
async function incidentWithRoot(pool: pg.Pool, id: number): Promise<Incident | undefined> {
  const deadline = Date.now() + ROOT_RECORDED_WAIT_MS;
  const read = () => loadIncident(pool, id);
  let incident = await read();
  while (incident?.rootTs === null && Date.now() < deadline) {
    // The intent first: it is forgotten in the transaction that records the root, so once it is gone the
    // read after it shows the root, if there is one.
    const intent = await findPostIntent(pool, 'incident_root', id);
    incident = await read();
    // Answered (a 5xx): that attempt is over, and a root it posted is recorded only once a later sync finds it.
    if (!intent || intent.answeredAt !== null) break;
    if (incident?.rootTs === null) await new Promise((resolve) => setTimeout(resolve, ROOT_RECORDED_POLL_MS));
  }
  return incident;
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
  const incident = await incidentWithRoot(pool, id);
  if (!incident) throw new IncidentError('INCIDENT_NOT_FOUND', `There is no incident ${incidentRef(id)}.`);
  if (!isClickOn(click, { channelId: incident.channelId, ts: incident.rootTs })) {
    throw new IncidentError(
      'NOT_FROM_MESSAGE',
      `This click does not come from ${incidentRef(id)}'s own message, so it does nothing.`,
    );
  }
  return incident;
}
