import type pg from 'pg';
import { inTransaction } from '../db/pool.js';
import { POST_ATTEMPT_MAX_MS } from '../db/slackPostIntents.js';
import { incidentRef } from '../primitives/ids.js';
import { ROLES } from '../primitives/role.js';
import type { TemplateSet } from '../render/templates.js';
import { SlackOutcomePendingError, SlackRateLimitedError, SlackRejectedError } from '../slack/errors.js';
import type { PostOnceDeps } from '../slack/postOnce.js';
import { findShare, type ShareAttempt } from '../slack/shareOnce.js';
import {
  buildPostmortemView,
  POSTMORTEM_TEMPLATE,
  type PostmortemData,
  peopleIn,
} from '../views/postmortem.js';
import { IncidentError } from './errors.js';
import { addTimelineEntries } from './timeline.js';

/**
 * The post-mortem skeleton's use case: loading the incident's record for views/postmortem, storing each
 * generated revision with its timeline entry, and recording the Slack file it was uploaded as.
 */

type Queryable = pg.ClientBase | pg.Pool;

/** A revision with no share under way or in doubt: a new one, one uploaded, one whose share failed. */
const NO_SHARE =
  'share_file_id = NULL, share_channel_id = NULL, share_thread_ts = NULL, share_started_at = NULL';

export async function loadPostmortemData(
  db: Queryable,
  incidentId: number,
): Promise<PostmortemData | undefined> {
  const { rows } = await db.query<PostmortemData['incident']>(
    `SELECT id::int AS id, title, severity, state, status, impact, affected, resolution,
            created_at AS "createdAt", resolved_at AS "resolvedAt", declared_by AS "declaredBy",
            group_key AS "groupKey"
       FROM incidents WHERE id = $1`,
    [incidentId],
  );
  const incident = rows[0];
  if (!incident) return undefined;
  const roles = await db.query<PostmortemData['roles'][number]>(
    'SELECT role, user_id AS "userId" FROM incident_roles WHERE incident_id = $1',
    [incidentId],
  );
  const alerts = await db.query<PostmortemData['alerts'][number]>(
    `SELECT alertname, min(starts_at) AS "startsAt", count(*)::int AS instances
       FROM alerts WHERE incident_id = $1
      GROUP BY alertname ORDER BY min(starts_at), alertname`,
    [incidentId],
  );
  const timeline = await db.query<PostmortemData['timeline'][number]>(
    `SELECT kind, actor, data, created_at AS "createdAt"
       FROM timeline_entries WHERE incident_id = $1 ORDER BY id`,
    [incidentId],
  );
  return {
    incident,
    roles: roles.rows.sort((a, b) => ROLES.indexOf(a.role) - ROLES.indexOf(b.role)),
    alerts: alerts.rows,
    timeline: timeline.rows,
  };
}

export interface GeneratedPostmortem {
  markdown: string;
  revision: number;
  filename: string;
  /** The incident's version after this: Slack must come to show it. */
  version: number;
}

/** Where people's names come from (Slack's users.info, remembered): those it cannot name are left out. */
export interface PeopleDirectory {
  names(ids: string[]): Promise<ReadonlyMap<string, string>>;
}

/**
 * Renders the skeleton from the record as it stands and stores it as the incident's next revision, with
 * its timeline entry, in one transaction: a render that fails writes nothing. People are named from
 * `people` when given, read before the transaction so that no lock waits for Slack; anyone who joins
 * the record meanwhile is shown by id.
 */
export async function generatePostmortem(
  pool: pg.Pool,
  templates: TemplateSet,
  incidentId: number,
  generatedBy: string,
  people?: PeopleDirectory,
): Promise<GeneratedPostmortem> {
  const before = people && (await loadPostmortemData(pool, incidentId));
  const names = people && before ? await people.names(peopleIn(before)) : new Map<string, string>();
  return inTransaction(pool, async (db) => {
    // One generation at a time per incident, each reading what the previous one committed.
    const locked = await db.query('SELECT 1 FROM incidents WHERE id = $1 FOR UPDATE', [incidentId]);
    const data = locked.rowCount ? await loadPostmortemData(db, incidentId) : undefined;
    if (!data)
      throw new IncidentError('INCIDENT_NOT_FOUND', `There is no incident ${incidentRef(incidentId)}.`);
    const markdown = templates.renderText(POSTMORTEM_TEMPLATE, buildPostmortemView(data, names));
    const { rows } = await db.query<{ revision: number }>(
      `INSERT INTO postmortems (incident_id, markdown, generated_by) VALUES ($1, $2, $3)
       ON CONFLICT (incident_id) DO UPDATE
          SET markdown = EXCLUDED.markdown, revision = postmortems.revision + 1, generated_at = now(),
              generated_by = EXCLUDED.generated_by, slack_file_id = NULL, ${NO_SHARE}
       RETURNING revision`,
      [incidentId, markdown, generatedBy],
    );
    const revision = rows[0]!.revision;
    await addTimelineEntries(db, incidentId, [
      { kind: 'postmortem_generated', actor: generatedBy, data: { revision } },
    ]);
    const bumped = await db.query<{ version: number }>(
      'UPDATE incidents SET version = version + 1, updated_at = now() WHERE id = $1 RETURNING version',
      [incidentId],
    );
    return {
      markdown,
      revision,
      filename: `${incidentRef(incidentId)}-postmortem.md`,
      version: bumped.rows[0]!.version,
    };
  });
}

/**
 * Records the Slack file of `revision`, and that its share is over; false when a newer revision replaced
 * it in the meantime, or a file is recorded for it already (the first recorded is the one shown: another
 * run's, later, changes nothing). The request it answers ends with it, unless asked again since the
 * revision was written: the next answers it.
 */
export async function recordPostmortemFile(
  db: Queryable,
  incidentId: number,
  revision: number,
  fileId: string,
): Promise<boolean> {
  const { rows } = await db.query<{ recorded: boolean }>(
    `WITH recorded AS (
       UPDATE postmortems SET slack_file_id = $3, ${NO_SHARE}
        WHERE incident_id = $1 AND revision = $2 AND slack_file_id IS NULL
       RETURNING generated_at
     ), answered AS (
       DELETE FROM postmortem_requests r USING recorded
        WHERE r.incident_id = $1 AND r.requested_at <= recorded.generated_at
     )
     SELECT EXISTS (SELECT 1 FROM recorded) AS recorded`,
    [incidentId, revision, fileId],
  );
  return rows[0]!.recorded;
}

/**
 * The statement that asks for the post-mortem of the incident `incident` names (a parameter), by `by`,
 * from the rows `from` gives (none by default: one row). Until its upload PostgreSQL holds one request per
 * incident, and the workers' sweep queues it again while it is there; asked again, it is asked now.
 */
export const askForPostmortem = (incident: string, by: string, from = '') =>
  `INSERT INTO postmortem_requests (incident_id, requested_by) SELECT ${incident}, ${by} ${from}
   ON CONFLICT (incident_id) DO UPDATE
      SET requested_by = EXCLUDED.requested_by, requested_at = clock_timestamp()`;

/** Where a request goes once PostgreSQL holds it: the job that writes it (QueuedIncidentEffects). */
export interface PostmortemQueue {
  postmortemRequested(incidentId: number, requestedBy: string): Promise<void>;
}

/**
 * Asks for the incident's post-mortem skeleton, written and uploaded into its thread by a worker. The
 * request is kept in PostgreSQL first: were the job lost, the sweep queues it again; were the queue
 * away, the request waits there for it.
 */
export async function requestPostmortem(
  pool: pg.Pool,
  queue: PostmortemQueue,
  incidentId: number,
  requestedBy: string,
): Promise<void> {
  await pool.query({
    name: 'postmortem-request',
    text: askForPostmortem('$1::bigint', '$2::text'),
    values: [incidentId, requestedBy],
  });
  await queue.postmortemRequested(incidentId, requestedBy);
}

/**
 * The requests no upload has answered: none of a revision written since. An older worker, running beside
 * newer ones during an upgrade, records an upload without ending its request: its upload answers it all
 * the same.
 */
const STILL_ASKED = `FROM postmortem_requests r LEFT JOIN postmortems p USING (incident_id)
  WHERE NOT (p.slack_file_id IS NOT NULL AND p.generated_at >= r.requested_at)`;

/** The post-mortems asked for and not yet uploaded, oldest first: the workers' sweep queues each again. */
export async function postmortemsAsked(
  db: Queryable,
): Promise<Array<{ incidentId: number; requestedBy: string }>> {
  const { rows } = await db.query<{ incidentId: number; requestedBy: string }>(
    `SELECT r.incident_id::int AS "incidentId", r.requested_by AS "requestedBy" ${STILL_ASKED}
      ORDER BY r.requested_at`,
  );
  return rows;
}

/** Whether the incident's post-mortem is still asked for (not uploaded since it was). */
export async function postmortemAsked(db: Queryable, incidentId: number): Promise<boolean> {
  const { rows } = await db.query(`SELECT 1 ${STILL_ASKED} AND r.incident_id = $1`, [incidentId]);
  return rows.length > 0;
}

/**
 * Slack refused the upload of `revision` (a missing scope, uploads turned off): the request it answers
 * ends, not tried for ever; one asked again since the revision was written stays.
 */
export async function postmortemRefused(db: Queryable, incidentId: number, revision: number): Promise<void> {
  await db.query(
    `DELETE FROM postmortem_requests r USING postmortems p
      WHERE r.incident_id = $1 AND p.incident_id = $1 AND p.revision = $2 AND r.requested_at <= p.generated_at`,
    [incidentId, revision],
  );
}

/** Where a revision goes and what it shows. */
export interface PostmortemUpload {
  incidentId: number;
  revision: number;
  channel: string;
  threadTs: string;
  filename: string;
  content: string;
}

/**
 * Uploads `upload` into its thread once (DESIGN.md principle 7), and records its file: a share of this
 * revision whose outcome is unknown (its answer lost, the process dead) is looked up and its file taken
 * rather than shared again (src/slack/shareOnce.ts). The staged file's id is recorded before the share, so
 * a share found is known by it. A refusal, or Slack's rate limit, ends the attempt: it was not shared.
 * Nothing is shared for a revision already uploaded, or replaced by a newer one. Two runs of one revision
 * at once (a job whose lock lapsed, run again beside itself) each write their share only over the one they
 * read: one that finds another's written since shares nothing and throws SlackOutcomePendingError, so that
 * its job comes back once that share has settled, to find its file recorded or look for it.
 */
export async function uploadPostmortem(
  deps: Pick<PostOnceDeps, 'slack' | 'limiter' | 'limits'>,
  pool: pg.Pool,
  upload: PostmortemUpload,
): Promise<void> {
  const { incidentId, revision } = upload;
  const earlier = await shareInDoubt(pool, incidentId, revision);
  if (earlier && (await findShare(deps, earlier.attempt, earlier.now))) {
    await recordPostmortemFile(pool, incidentId, revision, earlier.attempt.fileId);
    return;
  }
  const fileId = await deps.slack.stageFile({ filename: upload.filename, content: upload.content });
  const { rows } = await pool.query<{ claimed: boolean; awaited: boolean }>(
    `WITH claimed AS (
       UPDATE postmortems
          SET share_file_id = $3, share_channel_id = $4, share_thread_ts = $5,
              share_started_at = clock_timestamp()
        WHERE incident_id = $1 AND revision = $2 AND slack_file_id IS NULL
          AND share_file_id IS NOT DISTINCT FROM $6
       RETURNING 1
     )
     SELECT EXISTS (SELECT 1 FROM claimed) AS claimed,
            EXISTS (SELECT 1 FROM postmortems
                     WHERE incident_id = $1 AND revision = $2 AND slack_file_id IS NULL) AS awaited`,
    [incidentId, revision, fileId, upload.channel, upload.threadTs, earlier?.attempt.fileId ?? null],
  );
  const { claimed, awaited } = rows[0]!;
  if (!claimed) {
    // Another run's share, written since this one read, settles within POST_ATTEMPT_MAX_MS from now.
    // `awaited` is read as the row stood before this statement: a file recorded meanwhile is found when
    // the job comes back.
    if (awaited) throw new SlackOutcomePendingError(POST_ATTEMPT_MAX_MS);
    return;
  }
  try {
    await deps.slack.shareFile({
      fileId,
      title: `${upload.filename.replace(/\.md$/, '')} (revision ${revision})`,
      channel: upload.channel,
      threadTs: upload.threadTs,
    });
  } catch (err) {
    if (err instanceof SlackRejectedError || err instanceof SlackRateLimitedError)
      await pool
        .query(
          `UPDATE postmortems SET ${NO_SHARE} WHERE incident_id = $1 AND revision = $2 AND share_file_id = $3`,
          [incidentId, revision, fileId],
        )
        .catch(() => {});
    throw err;
  }
  await recordPostmortemFile(pool, incidentId, revision, fileId);
}

/** The share of `revision` whose outcome is unknown, if any, with the database's time, read before a look. */
async function shareInDoubt(
  db: Queryable,
  incidentId: number,
  revision: number,
): Promise<{ attempt: ShareAttempt; now: Date } | undefined> {
  const { rows } = await db.query<ShareAttempt & { now: Date }>(
    `SELECT share_file_id AS "fileId", share_channel_id AS "channelId", share_thread_ts AS "threadTs",
            share_started_at AS "startedAt", clock_timestamp() AS now
       FROM postmortems
      WHERE incident_id = $1 AND revision = $2 AND share_file_id IS NOT NULL AND slack_file_id IS NULL`,
    [incidentId, revision],
  );
  const row = rows[0];
  return row && { attempt: row, now: row.now };
}

/**
 * The revision whose share's outcome is unknown, written for the request still held: a job that has lost
 * its revision (its job lost by Redis, the sweep's queued in its place) takes it rather than write and
 * share another, which would show the post-mortem twice.
 */
export async function revisionInDoubt(db: Queryable, incidentId: number): Promise<number | undefined> {
  const { rows } = await db.query<{ revision: number }>(
    `SELECT p.revision FROM postmortems p JOIN postmortem_requests r USING (incident_id)
      WHERE p.incident_id = $1 AND p.share_file_id IS NOT NULL AND p.slack_file_id IS NULL
        AND p.generated_at >= r.requested_at`,
    [incidentId],
  );
  return rows[0]?.revision;
}
