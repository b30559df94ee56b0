import type pg from 'pg';
import { inTransaction } from '../db/pool.js';
import {
  ALREADY_HANDLED,
  claimSlackRequest,
  slackRequestClaim,
  slackRequestSeen,
} from '../db/slackRequests.js';
import { incidentRef } from '../primitives/ids.js';
import type { Role } from '../primitives/role.js';
import type { Severity } from '../primitives/severity.js';
import type { UpdateStatus } from '../primitives/status.js';
import type { SlackConfig } from '../slack/configSchema.js';
import type { IncidentsConfig } from './configSchema.js';
import { IncidentError } from './errors.js';
import { askForPostmortem } from './postmortem.js';
import { type NewTimelineEntry, TIMELINE_INSERT } from './timeline.js';

/**
 * What people do to incidents from Slack: declare, update, change severity, assign roles, take notes,
 * resolve. Each use case is one transaction that writes the change and its timeline entry and bumps the
 * incident's version; what Slack must then show, and which reminders are due, is left to IncidentEffects.
 */

/**
 * What must happen outside Postgres after a change commits (queue jobs, in production). A use case asks
 * for its effects all at once before it answers: the answer waits for one round trip to the queue, not
 * one each, and one that fails does not keep the others from being asked.
 */
export interface IncidentEffects {
  /** Slack must come to show `version`. */
  changed(incidentId: number, version: number): Promise<void>;
  /** The next status update is due at `dueAt` (none when null); `updateCount` identifies the cycle. */
  updateDue(incidentId: number, updateCount: number, dueAt: Date | null, how?: Reminding): Promise<void>;
  /** Check at `at` that the incident has a commander: asked once, as it is declared. */
  commanderDue(incidentId: number, at: Date): Promise<void>;
  /** The incident needs a channel of its own. */
  channelNeeded(incidentId: number): Promise<void>;
  /** Render and upload the post-mortem skeleton. */
  postmortemRequested(incidentId: number, requestedBy: string): Promise<void>;
  /** Resolved: stop chasing people for it, and tell its pagers; its reminders find it resolved. */
  resolved(incidentId: number): Promise<void>;
  /** Someone owns it now: stop chasing people for it, and tell its pagers. */
  acknowledged(incidentId: number): Promise<void>;
  /** An alert opened it, or reopened it for the `opening`-th time: chase people until someone owns it. */
  opened(incidentId: number, opening: number): Promise<void>;
}

/**
 * What was scheduled before: `newIncident`, the incident was just declared, nothing of it; `wasDueAt`,
 * when the reminder was due before this change (null: none was). Not given, it is not known.
 */
export interface Reminding {
  newIncident?: boolean;
  wasDueAt?: Date | null;
}

export interface LifecycleDeps {
  pool: pg.Pool;
  config: { slack: Pick<SlackConfig, 'defaultChannel'>; incidents: IncidentsConfig };
  effects: IncidentEffects;
}

export interface ChangeResult {
  incidentId: number;
  ref: string;
  version: number;
}

function updateInterval(
  config: { incidents: Pick<IncidentsConfig, 'updateIntervals'> },
  severity: Severity,
): number | null {
  return config.incidents.updateIntervals[severity] ?? null;
}

/** Records a request key from Slack; refused when it was already acted on (a retry or a replay). */
async function claimRequest(db: pg.ClientBase | pg.Pool, key: string | undefined): Promise<void> {
  if (key && !(await claimSlackRequest(db, key))) throw new IncidentError('ALREADY_HANDLED', ALREADY_HANDLED);
}

export const incidentNotFound = (incidentId: number) =>
  new IncidentError('INCIDENT_NOT_FOUND', `There is no incident ${incidentRef(incidentId)}.`);
const alreadyResolved = (incidentId: number) =>
  new IncidentError('ALREADY_RESOLVED', `${incidentRef(incidentId)} is already resolved.`);

/**
 * Why a change made in one statement (its key claimed only when it is made) was not: its key claimed by a
 * replay, which is told nothing more; the incident missing, or resolved; `unchanged`, when the change would
 * change nothing; else a bug, the checks and the statement's condition disagreeing.
 */
async function refusal(
  pool: pg.Pool,
  requestKey: string | undefined,
  incidentId: number,
  state: 'open' | 'resolved' | null,
  change: string,
  unchanged?: IncidentError,
): Promise<Error> {
  if (await slackRequestSeen(pool, requestKey)) return new IncidentError('ALREADY_HANDLED', ALREADY_HANDLED);
  if (state === null) return incidentNotFound(incidentId);
  if (state === 'resolved') return alreadyResolved(incidentId);
  return unchanged ?? new Error(`${incidentRef(incidentId)}: the ${change} was not applied`);
}

/** Locks the incident's row until the transaction ends; refused when there is none, or it is resolved. */
async function lockOpenIncident(db: pg.ClientBase, incidentId: number): Promise<void> {
  const { rows } = await db.query<{ state: 'open' | 'resolved' }>(
    'SELECT state FROM incidents WHERE id = $1 FOR UPDATE',
    [incidentId],
  );
  if (!rows[0]) throw incidentNotFound(incidentId);
  if (rows[0].state === 'resolved') throw alreadyResolved(incidentId);
}

/**
 * Bumps the incident's version (Slack must catch up with it), in one statement with the change's timeline
 * `entries` and `set` (columns to set too, whose params are `params`, from $3); the new version.
 */
export async function bumpVersion(
  db: pg.ClientBase,
  incidentId: number,
  {
    entries = [],
    set = '',
    params = [],
  }: { entries?: ReadonlyArray<NewTimelineEntry>; set?: string; params?: unknown[] } = {},
): Promise<number> {
  const { rows } = await db.query<{ version: number }>(
    `WITH entries AS (${TIMELINE_INSERT})
     UPDATE incidents SET version = version + 1, updated_at = now()${set ? `, ${set}` : ''}
      WHERE id = $1 RETURNING version`,
    [incidentId, JSON.stringify(entries), ...params],
  );
  return rows[0]!.version;
}

export interface DeclareInput {
  severity: Severity;
  title: string;
  declaredBy: string;
  /** Where the command was used: the incident's thread lives here unless it gets a channel of its own. */
  channelId: string;
  requestKey?: string;
}

export async function declareIncident(deps: LifecycleDeps, input: DeclareInput): Promise<ChangeResult> {
  const { config } = deps;
  const dedicated = config.incidents.createChannel;
  const interval = updateInterval(config, input.severity);
  // One statement: the request's key, the incident and its first timeline entry, or nothing.
  const claim = slackRequestClaim('$8');
  const { rows } = await deps.pool.query<{
    claimed: boolean;
    id: number;
    version: number;
    due: Date | null;
    commander_due: Date | null;
  }>(
    `WITH ${claim.cte}, incident AS (
       INSERT INTO incidents (title, severity, channel_id, dedicated_channel, announcement_channel_id, declared_by,
                              next_update_due_at, commander_reminder_due_at)
       SELECT $1, $2, $3, $4, $5, $6, CASE WHEN $7::bigint IS NULL THEN NULL ELSE now() + $7::bigint * interval '1 millisecond' END,
              CASE WHEN $10::bigint IS NULL THEN NULL ELSE now() + $10::bigint * interval '1 millisecond' END
        WHERE ${claim.claimed}
       RETURNING id::int AS id, version, next_update_due_at AS due, commander_reminder_due_at AS commander_due
     ), entry AS (
       INSERT INTO timeline_entries (incident_id, kind, actor, data)
       SELECT id, 'incident_declared', $6, $9::jsonb FROM incident
     )
     SELECT ${claim.claimed} AS claimed, i.*
       FROM (SELECT 1) AS one LEFT JOIN incident i ON true`,
    [
      input.title,
      input.severity,
      dedicated ? null : input.channelId,
      dedicated,
      dedicated ? (config.incidents.announcementChannel ?? config.slack.defaultChannel) : null,
      input.declaredBy,
      interval,
      input.requestKey ?? null,
      JSON.stringify({ title: input.title, severity: input.severity }),
      config.incidents.commanderReminderAfter,
    ],
  );
  const { claimed, ...result } = rows[0]!;
  if (!claimed) throw new IncidentError('ALREADY_HANDLED', ALREADY_HANDLED);
  await Promise.all([
    dedicated ? deps.effects.channelNeeded(result.id) : deps.effects.changed(result.id, result.version),
    deps.effects.updateDue(result.id, 0, result.due, { newIncident: true }),
    result.commander_due && deps.effects.commanderDue(result.id, result.commander_due),
  ]);
  return { incidentId: result.id, ref: incidentRef(result.id), version: result.version };
}

export interface StatusUpdateInput {
  status?: UpdateStatus;
  text: string;
  impact?: string;
  affected?: string;
  eta?: string;
  /** Overrides the severity's update interval for the next update. */
  nextUpdateInMs?: number;
  by: string;
  requestKey?: string;
}

/**
 * One statement, without a transaction, takes the request's key, updates the incident and adds its timeline
 * entry: the incident's row stays locked for that statement alone, which commits as it ends, not for a
 * round trip per step and one for the commit (50 people updating one incident at once queue on that lock).
 */
export async function postStatusUpdate(
  deps: LifecycleDeps,
  incidentId: number,
  input: StatusUpdateInput,
): Promise<ChangeResult & { number: number }> {
  // Claimed only when the update is made: a refusal writes nothing, and needs no transaction to undo it.
  const claim = slackRequestClaim('$1', 'EXISTS (SELECT 1 FROM locked WHERE may_update)');
  const { rows } = await deps.pool.query<{
    state: 'open' | 'resolved' | null;
    version: number | null;
    number: number | null;
    due: Date | null;
    was_due: Date | null;
  }>({
    name: 'incidents-post-status-update',
    text: `WITH locked AS (
         -- Waits for the row, and then reads it as it is (an alert may have reopened it meanwhile).
         SELECT id, state, state = 'open' AS may_update, next_update_due_at AS was_due
           FROM incidents WHERE id = $2 FOR UPDATE
       ), ${claim.cte}, updated AS (
         UPDATE incidents i
            SET version = version + 1, updated_at = now(), update_count = update_count + 1, last_update_at = now(),
                status = COALESCE($3, status), impact = COALESCE($4, impact), affected = COALESCE($5, affected),
                eta = COALESCE($6, eta),
                -- Whole milliseconds: the timeline entry says when, as the Date read back does.
                next_update_due_at = date_trunc('milliseconds',
                  now() + COALESCE($7::bigint, ($8::jsonb ->> i.severity::text)::bigint) * interval '1 millisecond')
           FROM locked l
          WHERE i.id = l.id AND l.may_update AND ${claim.claimed}
          RETURNING i.version, i.update_count, i.next_update_due_at
       ), entry AS (
         INSERT INTO timeline_entries (incident_id, kind, actor, data)
         SELECT $2, 'status_update', $9, $10::jsonb || jsonb_build_object('number', u.update_count)
                || CASE WHEN u.next_update_due_at IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('nextUpdateAt',
                     to_char(u.next_update_due_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')) END
           FROM updated u
       )
       SELECT (SELECT state FROM locked) AS state, (SELECT was_due FROM locked) AS was_due,
              u.version, u.update_count AS number, u.next_update_due_at AS due
         FROM (SELECT 1) AS one LEFT JOIN updated u ON true`,
    values: [
      input.requestKey ?? null,
      incidentId,
      input.status ?? null,
      input.impact ?? null,
      input.affected ?? null,
      input.eta ?? null,
      input.nextUpdateInMs ?? null,
      JSON.stringify(deps.config.incidents.updateIntervals),
      input.by,
      JSON.stringify({
        text: input.text,
        ...(input.status ? { status: input.status } : {}),
        ...(input.impact ? { impact: input.impact } : {}),
        ...(input.affected ? { affected: input.affected } : {}),
        ...(input.eta ? { eta: input.eta } : {}),
      }),
    ],
  });
  const { state, version, number, due, was_due: wasDueAt } = rows[0]!;
  if (version === null || number === null)
    throw await refusal(deps.pool, input.requestKey, incidentId, state, 'update');
  await Promise.all([
    deps.effects.changed(incidentId, version),
    deps.effects.updateDue(incidentId, number, due, { wasDueAt }),
  ]);
  return { incidentId, ref: incidentRef(incidentId), version, number };
}

/**
 * One statement, as postStatusUpdate: the key is claimed only when the severity changes. The next update is
 * due one new interval after the last one (or after the start).
 */
export async function changeSeverity(
  deps: LifecycleDeps,
  incidentId: number,
  severity: Severity,
  by: string,
  requestKey?: string,
): Promise<ChangeResult> {
  const claim = slackRequestClaim('$1', 'EXISTS (SELECT 1 FROM locked WHERE may_change)');
  const { rows } = await deps.pool.query<{
    state: 'open' | 'resolved' | null;
    was: Severity | null;
    version: number | null;
    update_count: number;
    due: Date | null;
    was_due: Date | null;
  }>({
    name: 'incidents-change-severity',
    text: `WITH locked AS (
         -- Waits for the row, and then reads it as it is.
         SELECT id, state, severity AS was, state = 'open' AND severity <> $3 AS may_change,
                next_update_due_at AS was_due
           FROM incidents WHERE id = $2 FOR UPDATE
       ), ${claim.cte}, changed AS (
         UPDATE incidents i SET version = version + 1, updated_at = now(), severity = $3,
                -- From the last update of this opening: a reopened incident's updates start over.
                next_update_due_at = CASE WHEN $4::bigint IS NULL THEN NULL
                  ELSE GREATEST(COALESCE(i.last_update_at, i.created_at), i.opened_at)
                       + $4::bigint * interval '1 millisecond' END
           FROM locked l
          WHERE i.id = l.id AND l.may_change AND ${claim.claimed}
          RETURNING i.version, i.update_count, i.next_update_due_at
       ), entry AS (
         INSERT INTO timeline_entries (incident_id, kind, actor, data)
         SELECT $2, 'severity_changed', $5, jsonb_build_object('from', l.was, 'to', $3) FROM changed, locked l
       )
       SELECT l.state, l.was, l.was_due, c.version, c.update_count, c.next_update_due_at AS due
         FROM (SELECT 1) AS one LEFT JOIN locked l ON true LEFT JOIN changed c ON true`,
    values: [requestKey ?? null, incidentId, severity, updateInterval(deps.config, severity), by],
  });
  const { state, was, was_due: wasDueAt, version, update_count: updateCount, due } = rows[0]!;
  if (version === null) {
    const unchanged =
      was === severity
        ? new IncidentError('NO_CHANGE', `${incidentRef(incidentId)} is already ${severity}.`)
        : undefined;
    throw await refusal(deps.pool, requestKey, incidentId, state, 'severity change', unchanged);
  }
  await Promise.all([
    deps.effects.changed(incidentId, version),
    deps.effects.updateDue(incidentId, updateCount, due, { wasDueAt }),
  ]);
  return { incidentId, ref: incidentRef(incidentId), version };
}

export async function assignRole(
  deps: LifecycleDeps,
  incidentId: number,
  role: Role,
  userId: string,
  by: string,
  requestKey?: string,
): Promise<ChangeResult> {
  const version = await inTransaction(deps.pool, async (db) => {
    await claimRequest(db, requestKey);
    await lockOpenIncident(db, incidentId);
    const { rows } = await db.query<{ previous: string | null }>(
      `WITH previous AS (SELECT user_id FROM incident_roles WHERE incident_id = $1 AND role = $2)
       INSERT INTO incident_roles (incident_id, role, user_id, assigned_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (incident_id, role) DO UPDATE SET user_id = EXCLUDED.user_id, assigned_by = EXCLUDED.assigned_by,
                                                    assigned_at = now()
       RETURNING (SELECT user_id FROM previous) AS previous`,
      [incidentId, role, userId, by],
    );
    const previous = rows[0]?.previous ?? null;
    if (previous === userId) {
      throw new IncidentError(
        'NO_CHANGE',
        `<@${userId}> is already the ${role} of ${incidentRef(incidentId)}.`,
      );
    }
    return bumpVersion(db, incidentId, {
      entries: [
        { kind: 'role_assigned', actor: by, data: { role, user: userId, ...(previous ? { previous } : {}) } },
      ],
    });
  });
  await deps.effects.changed(incidentId, version);
  return { incidentId, ref: incidentRef(incidentId), version };
}

/** One statement, as postStatusUpdate. A note is taken on a resolved incident too. */
export async function addNote(
  deps: LifecycleDeps,
  incidentId: number,
  text: string,
  by: string,
  requestKey?: string,
): Promise<ChangeResult> {
  const claim = slackRequestClaim('$1', 'EXISTS (SELECT 1 FROM locked)');
  const { rows } = await deps.pool.query<{ found: boolean; version: number | null }>({
    name: 'incidents-add-note',
    text: `WITH locked AS (
         SELECT id FROM incidents WHERE id = $2 FOR UPDATE
       ), ${claim.cte}, noted AS (
         UPDATE incidents i SET version = version + 1, updated_at = now()
           FROM locked l
          WHERE i.id = l.id AND ${claim.claimed}
          RETURNING i.version
       ), entry AS (
         INSERT INTO timeline_entries (incident_id, kind, actor, data)
         SELECT $2, 'note', $3, jsonb_build_object('text', $4::text) FROM noted
       )
       SELECT EXISTS (SELECT 1 FROM locked) AS found, n.version
         FROM (SELECT 1) AS one LEFT JOIN noted n ON true`,
    values: [requestKey ?? null, incidentId, by, text],
  });
  const { found, version } = rows[0]!;
  // Found, its state does not matter: only a replay is left to refuse it.
  if (version === null) throw await refusal(deps.pool, requestKey, incidentId, found ? 'open' : null, 'note');
  await deps.effects.changed(incidentId, version);
  return { incidentId, ref: incidentRef(incidentId), version };
}

/** A resolution: the incident's severity then, and how long after it opened (or reopened) it came. */
export interface Resolution extends ChangeResult {
  severity: Severity;
  afterMs: number;
}

export async function resolveIncident(
  deps: LifecycleDeps,
  incidentId: number,
  resolution: string,
  by: string,
  requestKey?: string,
): Promise<Resolution> {
  // One statement, without a transaction, as postStatusUpdate: the row stays locked for it alone, and a
  // refusal writes nothing, the request's key included.
  const claim = slackRequestClaim('$1', 'EXISTS (SELECT 1 FROM locked WHERE may_resolve)');
  const { rows } = await deps.pool.query<{
    state: 'open' | 'resolved' | null;
    severity: Severity | null;
    after_ms: number | null;
    version: number | null;
  }>({
    name: 'incidents-resolve',
    text: `WITH locked AS (
         -- Waits for the row, and then reads it as it is (an alert may have reopened it meanwhile).
         SELECT id, state, severity, state = 'open' AS may_resolve,
                -- Never before it opened, nor its entry before the reopening's: an alert may have
                -- reopened it after this statement began (now()).
                greatest(now(), opened_at) AS resolving_at,
                -- Since this opening, as the metric and /incident stats measure it.
                (extract(epoch FROM greatest(now(), opened_at) - opened_at) * 1000)::float8 AS after_ms
           FROM incidents WHERE id = $2 FOR UPDATE
       ), ${claim.cte}, resolved AS (
         UPDATE incidents SET version = version + 1, updated_at = now(), state = 'resolved', status = 'resolved',
                resolution = $3, resolved_at = l.resolving_at, next_update_due_at = NULL
           FROM locked l
          WHERE incidents.id = l.id AND l.may_resolve AND ${claim.claimed}
          RETURNING incidents.version
       ), entry AS (
         INSERT INTO timeline_entries (incident_id, kind, actor, data, created_at)
         SELECT $2, 'incident_resolved', $4,
                jsonb_build_object('resolution', $3::text, 'durationMs', l.after_ms) || $5::jsonb,
                l.resolving_at
           FROM locked l, resolved
       ), postmortem AS (
         ${askForPostmortem('$2', '$4', 'FROM resolved WHERE $6::boolean')}
       )
       SELECT l.state, l.severity, l.after_ms, r.version
         FROM (SELECT 1) AS one LEFT JOIN locked l ON true LEFT JOIN resolved r ON true`,
    values: [
      requestKey ?? null,
      incidentId,
      resolution,
      by,
      JSON.stringify(deps.config.incidents.postmortemOnResolve ? { postmortemFollows: true } : {}),
      deps.config.incidents.postmortemOnResolve,
    ],
  });
  const { state, severity, after_ms: afterMs, version } = rows[0]!;
  if (version === null || severity === null || afterMs === null)
    throw await refusal(deps.pool, requestKey, incidentId, state, 'resolution');
  await Promise.all([
    deps.effects.changed(incidentId, version),
    deps.effects.resolved(incidentId),
    deps.config.incidents.postmortemOnResolve ? deps.effects.postmortemRequested(incidentId, by) : undefined,
  ]);
  return { incidentId, ref: incidentRef(incidentId), version, severity, afterMs };
}

/** The incident a command means: an explicit INC-n, else the incident whose dedicated channel it is used in. */
export async function findIncident(
  pool: pg.Pool,
  target: { id?: number; channelId: string },
): Promise<{ id: number; state: 'open' | 'resolved' }> {
  if (target.id !== undefined) {
    const { rows } = await pool.query('SELECT id::int AS id, state FROM incidents WHERE id = $1', [
      target.id,
    ]);
    if (!rows[0]) throw incidentNotFound(target.id);
    return rows[0];
  }
  const { rows } = await pool.query(
    'SELECT id::int AS id, state FROM incidents WHERE channel_id = $1 AND dedicated_channel',
    [target.channelId],
  );
  if (!rows[0]) {
    throw new IncidentError(
      'NO_INCIDENT_HERE',
      'This channel is not an incident channel: name the incident, e.g. `/incident update INC-42 …`.',
    );
  }
  return rows[0];
}
