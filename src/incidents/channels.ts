import type pg from 'pg';

/** A channel of its own for a declared incident (incidents.createChannel). */

const MAX_CHANNEL_NAME = 80;

/** `inc-20261123-payments-api-is-down`, then `-2`, `-3`… when the name is taken. */
export function dedicatedChannelName(title: string, createdAt: Date, attempt = 1): string {
  const date = createdAt.toISOString().slice(0, 10).replace(/-/g, '');
  const suffix = attempt > 1 ? `-${attempt}` : '';
  const prefix = `inc-${date}-`;
  const slug =
    title
      .normalize('NFKD')
      .replace(/\p{M}/gu, '') // accents, once NFKD has split them off their letters
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-+|-+$/g, '')
      .slice(0, MAX_CHANNEL_NAME - prefix.length - suffix.length)
      .replace(/-+$/, '') || 'incident';
  return `${prefix}${slug}${suffix}`;
}

export interface ChannelTask {
  title: string;
  createdAt: Date;
  declaredBy: string | null;
  channelId: string | null;
  announcementChannelId: string | null;
  announcementTs: string | null;
}

export async function loadChannelTask(db: pg.Pool, incidentId: number): Promise<ChannelTask | undefined> {
  const { rows } = await db.query<ChannelTask>(
    `SELECT title, created_at AS "createdAt", declared_by AS "declaredBy", channel_id AS "channelId",
            announcement_channel_id AS "announcementChannelId", announcement_ts AS "announcementTs"
       FROM incidents WHERE id = $1 AND dedicated_channel`,
    [incidentId],
  );
  return rows[0];
}

/**
 * Open incidents whose channel of their own is not settled: not made yet, or made with its declarer's
 * invite or its announcement still to do. The job that does them may have been lost (Redis back without
 * its data) or have failed every attempt, and the incident is shown nowhere until its channel is made,
 * or not announced. The workers' sweep queues it again (a job there already is left). Slack refusing the
 * invite or the announcement settles it too: they are not tried for ever.
 */
export async function channelsUnsettled(db: pg.Pool): Promise<number[]> {
  const { rows } = await db.query<{ id: number }>(
    "SELECT id::int AS id FROM incidents WHERE state = 'open' AND dedicated_channel AND channel_settled_at IS NULL",
  );
  return rows.map((r) => r.id);
}

/** The incident's channel is made, its declarer invited and its announcement posted, or refused. */
export async function settleChannel(db: pg.Pool, incidentId: number): Promise<void> {
  await db.query('UPDATE incidents SET channel_settled_at = now() WHERE id = $1', [incidentId]);
}

/** Whether an incident lives in `channelId`, or lived there until Slack refused it the channel. */
export async function channelTaken(db: pg.Pool, channelId: string): Promise<boolean> {
  const { rows } = await db.query(
    'SELECT 1 FROM incidents WHERE channel_id = $1 OR refused_channel_id = $1 LIMIT 1',
    [channelId],
  );
  return rows.length > 0;
}

/** The incident now lives in `channelId`; returns the version Slack must show. */
export async function attachChannel(db: pg.Pool, incidentId: number, channelId: string): Promise<number> {
  const { rows } = await db.query<{ version: number }>(
    `UPDATE incidents SET channel_id = $2, version = version + 1, updated_at = now()
      WHERE id = $1 RETURNING version`,
    [incidentId, channelId],
  );
  return rows[0]!.version;
}

export async function recordAnnouncement(
  db: pg.ClientBase | pg.Pool,
  incidentId: number,
  ts: string,
): Promise<void> {
  await db.query('UPDATE incidents SET announcement_ts = $2 WHERE id = $1', [incidentId, ts]);
}
