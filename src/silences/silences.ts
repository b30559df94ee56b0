import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type pg from 'pg';
import type {
  AlertmanagerApi,
  Silence,
  SilenceMatcher,
  SilenceSpec,
} from '../alertmanager/alertmanagerApi.js';
import { AlertmanagerError } from '../alertmanager/errors.js';
import { type Membership, requireAmong } from '../approvals/policy.js';
import { type ClientSource, inTransaction } from '../db/pool.js';
import { ALREADY_HANDLED, slackRequestClaim } from '../db/slackRequests.js';
import { IncidentError } from '../incidents/errors.js';
import {
  type IncidentSilence,
  LIVE_SILENCE_JSON,
  liveSilence,
  publicSilence,
  recordSilence,
  recordSilenceAttempt,
  recordSilenceEnded,
  recordSilenceExtended,
  SHARED_LABELS_JSON,
  SILENCE_ATTEMPTS_LEFT,
  type StoredSilence,
  silenceAttemptsLeft,
  silenceRecorded,
  storedSilenceOf,
} from '../incidents/incidentSilences.js';
import { bumpVersion } from '../incidents/lifecycle.js';
import type { NewTimelineEntry } from '../incidents/timeline.js';
import type { Metrics } from '../observability/metrics.js';
import { incidentRef } from '../primitives/ids.js';
import { escapeMrkdwn, slackDate, userMention } from '../render/mrkdwn.js';
import type { SilencesConfig } from './configSchema.js';
import { SilenceError } from './errors.js';
import { checkMatchers, proposedMatchers, silenceableCommonLabels } from './matchers.js';

/**
 * Silencing an incident's alerts in Alertmanager itself, from Slack: set, extend, lift. Alertmanager
 * holds the silence; Postgres records which one is the incident's (incident_silences), and the timeline
 * and the root message show it.
 *
 * Each change runs in one transaction holding the incident's silence lock (an advisory lock, so that
 * alerts keep arriving meanwhile) around the Alertmanager call: two people pressing Silence at once make
 * one silence, and when Alertmanager fails or refuses, the transaction (request claim included) rolls
 * back and no silence is recorded. The call is bounded by alertmanager.timeout per peer. Each silence set
 * or extended is recorded as an attempt before Alertmanager is asked (silence_attempts), committed on its
 * own: one left behind is why the next change looks through Alertmanager's silences (every team's) for
 * one never recorded. Otherwise the recorded one is read by its id.
 */

export type { SilenceMatcher } from '../alertmanager/alertmanagerApi.js';
export {
  activeSilence,
  type IncidentSilence,
  liveSilenceEnds,
} from '../incidents/incidentSilences.js';
export type { SilencesConfig } from './configSchema.js';
export { SilenceError, type SilenceErrorCode } from './errors.js';
export {
  type MatcherSource,
  parseSilenceDuration,
  parseSilenceMatchers,
  proposedMatchers,
} from './matchers.js';

/** What must happen outside Postgres after a silence changes (queue jobs, in production). */
export interface SilenceEffects {
  /** Slack must come to show `version`. */
  changed(incidentId: number, version: number): Promise<void>;
  /** At `at` the incident's silence ends: record that, so the root stops showing it. */
  silenceEnds(incidentId: number, at: Date): Promise<void>;
}

export interface SilenceDeps {
  /**
   * For the reads before a form closes, and a silence's attempt, committed (briefly, on a client of its
   * own) while the change's transaction waits on silencesPool.
   */
  pool: pg.Pool;
  /**
   * For the transactions that hold an incident's silence lock while Alertmanager answers (up to its
   * timeout per peer): a pool of their own, so that a slow Alertmanager never holds the connections the
   * webhook, the other commands and the workers need; taken in turn (clientsInTurn), so that a burst of
   * changes waits for them rather than failing as if the database were down.
   */
  silencesPool: ClientSource;
  /** Undefined when `alertmanager:` is not configured. */
  alertmanager: AlertmanagerApi | undefined;
  config: { silences: SilencesConfig };
  membership: Membership;
  effects: SilenceEffects;
  /** Each change is counted once it is stored: once, whichever replica or retry made it. */
  metrics: Pick<Metrics, 'silences'>;
}

const LOCK_SPACE = 'incident-silence';
const MAX_REASON = 500;

export const SILENCES_NOT_CONFIGURED =
  "Silences are written to Alertmanager's API, which is not configured: set `alertmanager.urls` in the " +
  "bot's config (each peer's base URL, e.g. `http://alertmanager:9093`) and, if Alertmanager asks for " +
  'credentials, `ALERTMANAGER_API_TOKEN`, or `ALERTMANAGER_API_USERNAME` and `ALERTMANAGER_API_PASSWORD`, ' +
  "in the bot's environment.";

// Ends every comment the bot writes: how a silence it set is recognised in Alertmanager's list.
const MARKER = /\[incident-bot (s-[0-9a-f-]{36})\]$/;
const commentOf = (incidentId: number, reason: string, marker: string) =>
  `${incidentRef(incidentId)}: ${reason} [incident-bot ${marker}]`;

export async function silenceIncident(
  deps: SilenceDeps,
  input: {
    incidentId: number;
    userId: string;
    durationMs: number;
    reason: string;
    /** Default: proposedMatchers of the incident. */
    matchers?: SilenceMatcher[];
    /** The Slack request's key: a replay of it does nothing twice. */
    requestKey: string;
  },
): Promise<IncidentSilence> {
  const alertmanager = allowed(deps, input.userId);
  checkDuration(deps, input.durationMs);
  const reason = input.reason.trim().replace(/\s+/g, ' ');
  if (!reason)
    throw new SilenceError('BAD_REASON', 'Say why the alerts are silenced: the next on call will ask.');
  if (reason.length > MAX_REASON)
    throw new SilenceError('BAD_REASON', `Keep the reason under ${MAX_REASON} characters.`);
  if (input.matchers) checkMatchers(input.matchers);
  const result = await withSilenceLock(deps, input.incidentId, input.requestKey, async (db, incident) => {
    const matchers = input.matchers ?? proposedMatchers(incident).matchers;
    if (matchers.length === 0)
      throw new SilenceError(
        'BAD_MATCHERS',
        `The alerts of ${incidentRef(input.incidentId)} share no labels that name them alone: name what to silence in the form of its Silence button.`,
      );
    checkMatchers(matchers);
    const { live } = incident;
    const ended = live && live.endsAt.getTime() <= Date.now() ? await endSilence(db, live, null) : [];
    if (live && ended.length === 0) throw alreadySilenced(live);
    const now = new Date();
    const asked = { endsAt: new Date(now.getTime() + input.durationMs), silencedBy: input.userId, reason };
    const orphan = incident.attemptsLeft
      ? await orphanOf(db, alertmanager, input.incidentId, now, matchers)
      : undefined;
    const silence = orphan
      ? await madeAsAsked(alertmanager, orphan, asked)
      : await create(deps.pool, alertmanager, {
          incidentId: input.incidentId,
          matchers,
          startsAt: now,
          ...asked,
          marker: `s-${randomUUID()}`,
        });
    await recordSilence(db, silence);
    const entry: NewTimelineEntry = {
      kind: 'incident_silenced',
      actor: silence.silencedBy,
      data: {
        silenceId: silence.silenceId,
        endsAt: silence.endsAt.toISOString(),
        reason: silence.reason,
        matchers: silence.matchers,
      },
    };
    return { silence, version: await bumpVersion(db, input.incidentId, { entries: [...ended, entry] }) };
  }).catch(told('nothing was silenced'));
  deps.metrics.silences.inc({ change: 'set' });
  await Promise.all([
    deps.effects.changed(input.incidentId, result.version),
    deps.effects.silenceEnds(input.incidentId, result.silence.endsAt),
  ]);
  return publicSilence(result.silence);
}

export async function extendSilence(
  deps: SilenceDeps,
  input: { incidentId: number; userId: string; durationMs: number; requestKey: string },
): Promise<IncidentSilence> {
  const alertmanager = allowed(deps, input.userId);
  checkDuration(deps, input.durationMs);
  const result = await withSilenceLock(deps, input.incidentId, input.requestKey, async (db, incident) => {
    const { live, attemptsLeft } = incident;
    if (!live || live.endsAt.getTime() <= Date.now()) throw notSilenced(input.incidentId);
    const marked = await markedSilences(alertmanager, live, attemptsLeft);
    // The silence to update: the recorded one while Alertmanager runs it, else the one that replaced it
    // (an update Alertmanager took whose record was lost), which may end later than Postgres knows.
    const current =
      marked.find((s) => s.id === live.silenceId) ?? marked.toSorted((a, b) => +b.endsAt - +a.endsAt)[0];
    const from = new Date(Math.max(live.endsAt.getTime(), current?.endsAt.getTime() ?? 0));
    // Never past maxDuration from now, however often it is extended.
    const endsAt = new Date(
      Math.min(from.getTime() + input.durationMs, Date.now() + deps.config.silences.maxDuration),
    );
    if (endsAt.getTime() <= from.getTime()) {
      throw new SilenceError(
        'BAD_DURATION',
        `${incidentRef(input.incidentId)} is already silenced for as long as silences.maxDuration allows.`,
      );
    }
    // Alertmanager keeps the id only when matchers and start are its own: the start it stamped (its
    // clock, when it took the silence), not the one Postgres recorded. Else it gives a new id, kept. Its
    // matchers, too, are what it runs: someone may have narrowed them in its UI, which an extension keeps.
    const spec = specOf(
      {
        ...live,
        matchers: current?.matchers ?? live.matchers,
        startsAt: current?.startsAt ?? live.startsAt,
        endsAt,
      },
      input.userId,
    );
    // A lost answer, or a crash before the commit, leaves it: Alertmanager may then run a silence with
    // the marker that Postgres does not know of (ON CONFLICT: one left already).
    await recordSilenceAttempt(deps.pool, input.incidentId, live.marker);
    const silenceId = await postOrFind(
      alertmanager,
      live.marker,
      (s) => s.endsAt.getTime() === endsAt.getTime(),
      () =>
        alertmanager.postSilence(spec, current?.id ?? live.silenceId).catch((err: unknown) => {
          // Gone from Alertmanager (restarted without its storage, or expired and collected): set again,
          // as Alertmanager itself does with one it still lists as expired.
          if (err instanceof AlertmanagerError && err.code === 'SILENCE_NOT_FOUND')
            return alertmanager.postSilence(spec);
          throw err;
        }),
    );
    // Copies with the same marker (a second a lost answer once made) are lifted: one silence stays. Not
    // fatal: the extension stands, and unsilence lifts every copy anyway.
    await expireEach(
      alertmanager,
      marked.filter((s) => s.id !== current?.id && s.id !== silenceId),
    ).catch(() => undefined);
    // Its attempt is forgotten only when Alertmanager ran the recorded silence and updated it in place.
    // Otherwise (one left before, the recorded one replaced or gone, so set again) a silence with the
    // marker may surface later from a peer yet to gossip it: the silence's changes go on looking through
    // the list until it ends.
    const inPlace = !attemptsLeft && current?.id === live.silenceId && silenceId === live.silenceId;
    await recordSilenceExtended(
      db,
      input.incidentId,
      { silenceId, endsAt, matchers: spec.matchers },
      { forgetAttempts: inPlace },
    );
    const entry: NewTimelineEntry = {
      kind: 'silence_extended',
      actor: input.userId,
      data: {
        silenceId,
        endsAt: endsAt.toISOString(),
        previousEndsAt: from.toISOString(),
        ...(silenceId !== live.silenceId ? { previousSilenceId: live.silenceId } : {}),
      },
    };
    const version = await bumpVersion(db, input.incidentId, { entries: [entry] });
    return { silence: { ...live, silenceId, endsAt, matchers: spec.matchers }, version };
  }).catch(told('the silence was not extended'));
  deps.metrics.silences.inc({ change: 'extended' });
  await Promise.all([
    deps.effects.changed(input.incidentId, result.version),
    deps.effects.silenceEnds(input.incidentId, result.silence.endsAt),
  ]);
  return publicSilence(result.silence);
}

export async function unsilenceIncident(
  deps: SilenceDeps,
  input: { incidentId: number; userId: string; requestKey: string },
): Promise<void> {
  const alertmanager = allowed(deps, input.userId);
  const version = await withSilenceLock(deps, input.incidentId, input.requestKey, async (db, incident) => {
    const { live, attemptsLeft } = incident;
    if (!live || live.endsAt.getTime() <= Date.now()) throw notSilenced(input.incidentId);
    const marked = await markedSilences(alertmanager, live, attemptsLeft);
    await expireEach(alertmanager, [
      { id: live.silenceId },
      ...marked.filter((s) => s.id !== live.silenceId),
    ]);
    return bumpVersion(db, input.incidentId, { entries: await endSilence(db, live, input.userId) });
  }).catch(told('the silence was not lifted'));
  deps.metrics.silences.inc({ change: 'lifted' });
  await deps.effects.changed(input.incidentId, version);
}

/**
 * Refuses, before a form opens (and again before it closes), what setting (`silenced` false) or
 * extending (`silenced` true) the incident's silence would refuse without asking Alertmanager: silences
 * not configured, a person not among the silencers, an incident no alert opened, one silenced (or not)
 * already. Answers the incident's live silence.
 */
export async function checkSilenceable(
  deps: SilenceDeps,
  input: { incidentId: number; userId: string; silenced: boolean },
): Promise<IncidentSilence | undefined> {
  return (await silenceable(deps, input)).silence;
}

/**
 * What the Silence form proposes, once checkSilenceable lets it open: the matchers from the labels the
 * incident's alerts share now (proposedMatchers), and its group labels, which say why.
 */
export async function proposeSilence(
  deps: SilenceDeps,
  input: { incidentId: number; userId: string },
): Promise<{ groupLabels: Record<string, string>; proposed: ReturnType<typeof proposedMatchers> }> {
  const { incident } = await silenceable(deps, { ...input, silenced: false });
  return { groupLabels: incident.groupLabels, proposed: proposedMatchers(incident) };
}

async function silenceable(
  deps: SilenceDeps,
  input: { incidentId: number; userId: string; silenced: boolean },
): Promise<{ incident: AlertBornIncident; silence: IncidentSilence | undefined }> {
  allowed(deps, input.userId);
  const incident = await alertBornIncident(deps.pool, input.incidentId);
  const { live } = incident;
  const silence = live && live.endsAt.getTime() > Date.now() ? publicSilence(live) : undefined;
  if (input.silenced && !silence) throw notSilenced(input.incidentId);
  if (!input.silenced && silence) throw alreadySilenced(silence);
  return { incident, silence };
}

/**
 * Records that the incident's silence ended once its end has passed (the delayed task at its end):
 * once, whoever runs it. `nextAt` when it has been extended since and ends later. With `alertmanager`,
 * a silence Alertmanager still runs past that end (an extension it took before a crash kept Postgres
 * from recording it) is followed instead; when Alertmanager does not answer, Postgres's end stands.
 */
export async function endSilenceIfDue(
  pool: pg.Pool,
  incidentId: number,
  metrics: SilenceDeps['metrics'],
  alertmanager?: AlertmanagerApi,
): Promise<{ version?: number; nextAt?: Date }> {
  const outcome = await inTransaction(pool, async (db) => {
    await lockSilences(db, incidentId);
    const live = await liveSilence(db, incidentId);
    if (!live) return {};
    if (live.endsAt.getTime() > Date.now()) return { nextAt: live.endsAt };
    const running =
      alertmanager && (await runningLonger(alertmanager, live, await silenceAttemptsLeft(db, incidentId)));
    if (running) {
      await recordSilenceExtended(db, incidentId, {
        silenceId: running.id,
        endsAt: running.endsAt,
        matchers: running.matchers,
      });
      const entry: NewTimelineEntry = {
        kind: 'silence_extended',
        actor: running.createdBy,
        data: {
          silenceId: running.id,
          endsAt: running.endsAt.toISOString(),
          previousEndsAt: live.endsAt.toISOString(),
          ...(running.id !== live.silenceId ? { previousSilenceId: live.silenceId } : {}),
        },
      };
      const version = await bumpVersion(db, incidentId, { entries: [entry] });
      return { version, nextAt: running.endsAt, extended: true };
    }
    return { version: await bumpVersion(db, incidentId, { entries: await endSilence(db, live, null) }) };
  });
  const { extended, ...result } = outcome;
  if (extended) metrics.silences.inc({ change: 'extended' });
  return result;
}

/**
 * The silence of the live one's (markedSilences) that Alertmanager runs past its recorded end; undefined if
 * none, or unknown.
 */
async function runningLonger(
  alertmanager: AlertmanagerApi,
  live: StoredSilence,
  attemptsLeft: boolean,
): Promise<Silence | undefined> {
  const silences = await markedSilences(alertmanager, live, attemptsLeft).catch(() => []);
  const now = Date.now();
  return silences.find(
    (s) => s.state === 'active' && s.endsAt.getTime() > Math.max(now, live.endsAt.getTime()),
  );
}

/**
 * The silences Alertmanager runs (or will) that are the live silence's: the recorded one, and any with
 * its marker, which the bot made but may not have recorded. Those come only after an attempt was left
 * behind (a lost answer, a crash, an extension that found the recorded one replaced or gone:
 * `attemptsLeft`), or once the recorded one ended or is gone (replaced by an edit in Alertmanager's UI,
 * which keeps its comment). Otherwise the recorded one, read by its id, is all: Alertmanager's list holds
 * every team's silences, expired ones too, and is read only when needed.
 */
async function markedSilences(
  alertmanager: AlertmanagerApi,
  live: StoredSilence,
  attemptsLeft: boolean,
): Promise<Silence[]> {
  if (!attemptsLeft) {
    const recorded = await alertmanager.getSilence(live.silenceId).catch((err: unknown) => {
      if (err instanceof AlertmanagerError && err.code === 'SILENCE_NOT_FOUND') return undefined;
      throw err;
    });
    if (recorded && recorded.state !== 'expired') return [recorded];
  }
  const silences = await alertmanager.listSilences();
  return silences.filter(
    (s) => s.state !== 'expired' && (s.id === live.silenceId || markerOf(s) === live.marker),
  );
}

/** Expires each; one Alertmanager no longer knows (expired, deleted) counts as done. */
async function expireEach(alertmanager: AlertmanagerApi, silences: ReadonlyArray<{ id: string }>) {
  for (const { id } of silences) {
    try {
      await alertmanager.expireSilence(id);
    } catch (err) {
      if (!(err instanceof AlertmanagerError && err.code === 'SILENCE_NOT_FOUND')) throw err;
    }
  }
}

/** Ends the live silence in Postgres: lifted by `by`, or (null) run out. The timeline entry to add. */
async function endSilence(
  db: pg.ClientBase,
  live: StoredSilence,
  by: string | null,
): Promise<NewTimelineEntry[]> {
  await recordSilenceEnded(db, live.incidentId, by);
  return [
    by
      ? { kind: 'incident_unsilenced', actor: by, data: { silenceId: live.silenceId } }
      : {
          kind: 'silence_ended',
          actor: live.silencedBy,
          data: { silenceId: live.silenceId, endsAt: live.endsAt.toISOString() },
        },
  ];
}

/** The Alertmanager API, once the person may use it here; SilenceError otherwise. */
function allowed(deps: SilenceDeps, userId: string): AlertmanagerApi {
  if (!deps.alertmanager) throw new SilenceError('SILENCES_NOT_CONFIGURED', SILENCES_NOT_CONFIGURED);
  const { silencers } = deps.config.silences;
  if (silencers) {
    requireAmong(
      silencers,
      userId,
      deps.membership,
      (who) => new SilenceError('NOT_ALLOWED', `You may not silence alerts. Silencers: ${who}.`),
      (message) => new SilenceError('NOT_ALLOWED', message),
    );
  }
  return deps.alertmanager;
}

function checkDuration(deps: SilenceDeps, durationMs: number): void {
  if (!Number.isSafeInteger(durationMs) || durationMs <= 0) {
    throw new SilenceError('BAD_DURATION', 'Give a duration above zero, like 30m, 2h or 1d.');
  }
  if (durationMs > deps.config.silences.maxDuration) {
    throw new SilenceError('BAD_DURATION', 'That is longer than silences.maxDuration allows.');
  }
}

async function withSilenceLock<T>(
  deps: SilenceDeps,
  incidentId: number,
  requestKey: string,
  work: (db: pg.PoolClient, incident: AlertBornIncident) => Promise<T>,
): Promise<T> {
  return inTransaction(deps.silencesPool, async (db) => {
    // The claim and the lock in one round trip: a replay, refused, rolls back the lock with the claim. Not
    // waited for: each press waiting behind one that waits on a slow Alertmanager would hold a pooled
    // connection as long, and a few would leave none for the webhook and the other commands.
    const { cte, claimed } = slackRequestClaim('$1');
    const { rows } = await db.query<{ claimed: boolean; locked: boolean }>({
      name: 'silence-claim-lock',
      text: `WITH ${cte}
        SELECT ${claimed} AS claimed, pg_try_advisory_xact_lock(hashtext($2), $3::int) AS locked`,
      values: [requestKey, LOCK_SPACE, incidentId],
    });
    if (!rows[0]!.claimed) throw new IncidentError('ALREADY_HANDLED', ALREADY_HANDLED);
    if (!rows[0]!.locked) {
      throw new SilenceError(
        'SILENCE_BUSY',
        `The silence of ${incidentRef(incidentId)} is being changed right now, Alertmanager has yet to answer: look at its root message in a moment.`,
      );
    }
    // Read in a statement of its own, after the lock: one that began before the lock was taken would not
    // see what the last holder committed.
    return work(db, await alertBornIncident(db, incidentId));
  });
}

async function lockSilences(db: pg.ClientBase, incidentId: number): Promise<void> {
  await db.query('SELECT pg_advisory_xact_lock(hashtext($1), $2::int)', [LOCK_SPACE, incidentId]);
}

/** What silencing an alert-born incident reads of it: its labels, its live silence, and attempts left. */
interface AlertBornIncident {
  groupLabels: Record<string, string>;
  /** Those its alerts share now (SHARED_LABELS_JSON), not its first notification's. */
  commonLabels: Record<string, string>;
  live: StoredSilence | undefined;
  /** An attempt was left behind (SILENCE_ATTEMPTS_LEFT): Alertmanager may hold a silence never recorded. */
  attemptsLeft: boolean;
}

async function alertBornIncident(
  db: pg.ClientBase | pg.Pool,
  incidentId: number,
): Promise<AlertBornIncident> {
  const { rows } = await db.query<{
    groupKey: string | null;
    groupLabels: Record<string, string>;
    sharedLabels: Record<string, string>;
    firstLabels: Record<string, string>;
    live: Parameters<typeof storedSilenceOf>[0] | null;
    attemptsLeft: boolean;
  }>({
    name: 'silence-incident',
    text: `SELECT group_key AS "groupKey", group_labels AS "groupLabels", ${SHARED_LABELS_JSON} AS "sharedLabels",
              common_labels AS "firstLabels", ${LIVE_SILENCE_JSON} AS live,
              ${SILENCE_ATTEMPTS_LEFT} AS "attemptsLeft"
         FROM incidents i WHERE id = $1`,
    values: [incidentId],
  });
  const ref = incidentRef(incidentId);
  if (!rows[0]) throw new IncidentError('INCIDENT_NOT_FOUND', `There is no incident ${ref}.`);
  const { groupKey, groupLabels, sharedLabels, firstLabels, live, attemptsLeft } = rows[0];
  const commonLabels = silenceableCommonLabels(sharedLabels, firstLabels);
  if (groupKey === null) {
    throw new SilenceError(
      'NOT_ALERT_BORN',
      `${ref} was declared by hand: it has no Alertmanager alerts to silence.`,
    );
  }
  return { groupLabels, commonLabels, live: live ? storedSilenceOf(live) : undefined, attemptsLeft };
}

/**
 * A silence of this incident that Alertmanager holds but Postgres never recorded: one the bot set
 * before it crashed (or lost its connection, or lost Alertmanager's answer) before its own commit. It
 * is taken as the incident's silence instead of setting a second one, but only if it matches what this
 * press asks for: an earlier press's, with other matchers, is not what this one wants silenced. Any
 * other such silence is expired, so that one stays.
 */
async function orphanOf(
  db: pg.ClientBase,
  alertmanager: AlertmanagerApi,
  incidentId: number,
  now: Date,
  matchers: readonly SilenceMatcher[],
): Promise<StoredSilence | undefined> {
  const prefix = `${incidentRef(incidentId)}: `;
  const candidates = (await alertmanager.listSilences()).filter(
    (s) => s.state !== 'expired' && s.endsAt > now && s.comment.startsWith(prefix) && MARKER.test(s.comment),
  );
  let taken: StoredSilence | undefined;
  const others: Silence[] = [];
  for (const silence of candidates) {
    const orphan = adopted(incidentId, silence, prefix);
    if (await silenceRecorded(db, orphan)) continue;
    if (!taken && sameMatchers(orphan.matchers, matchers)) taken = orphan;
    else others.push(silence);
  }
  await expireEach(alertmanager, others);
  return taken;
}

const matcherKey = (matchers: readonly SilenceMatcher[]) =>
  JSON.stringify(matchers.map((m) => [m.name, m.value, m.isRegex ?? false, m.isEqual ?? true]).sort());
const sameMatchers = (a: readonly SilenceMatcher[], b: readonly SilenceMatcher[]) =>
  matcherKey(a) === matcherKey(b);

function adopted(incidentId: number, silence: Silence, prefix: string): StoredSilence {
  const marker = MARKER.exec(silence.comment)![1]!;
  return {
    silenceId: silence.id,
    incidentId,
    matchers: silence.matchers,
    startsAt: silence.startsAt,
    endsAt: silence.endsAt,
    silencedBy: silence.createdBy,
    reason: silence.comment.slice(prefix.length).replace(MARKER, '').trim(),
    marker,
  };
}

async function create(
  pool: pg.Pool,
  alertmanager: AlertmanagerApi,
  silence: Omit<StoredSilence, 'silenceId'>,
) {
  await recordSilenceAttempt(pool, silence.incidentId, silence.marker);
  const silenceId = await postOrFind(
    alertmanager,
    silence.marker,
    () => true,
    () => alertmanager.postSilence(specOf(silence, silence.silencedBy)),
  );
  return { ...silence, silenceId };
}

// After a lost answer: at once, then twice more while a slow peer may still be taking it or gossiping it.
const LOOKUP_WAITS_MS = [0, 500, 1_500];

/**
 * Posts a silence (`post`) and answers its id. When the answer is lost, Alertmanager may have taken it:
 * it is looked for, by the marker its comment carries (and `taken`), not posted again, and its id is
 * answered if found; otherwise the person is told it may have been taken. The attempt recorded before
 * asking stays, so the next change looks for it first.
 */
async function postOrFind(
  alertmanager: AlertmanagerApi,
  marker: string,
  taken: (silence: Silence) => boolean,
  post: () => Promise<string>,
): Promise<string> {
  try {
    return await post();
  } catch (err) {
    if (!(err instanceof AlertmanagerError && err.code === 'ALERTMANAGER_OUTCOME_UNKNOWN')) throw err;
    for (const wait of LOOKUP_WAITS_MS) {
      await sleep(wait);
      const silences = await alertmanager.listSilences().catch(() => []);
      const found = silences.find((s) => s.state !== 'expired' && markerOf(s) === marker && taken(s));
      if (found) return found.id;
    }
    throw err;
  }
}

const markerOf = (silence: Silence): string | undefined => MARKER.exec(silence.comment)?.[1];

/**
 * A silence left by an earlier press with this press's matchers, made what this press asks for: its end,
 * reason and author, updated in place (the same matchers and start keep its id). An earlier press by
 * someone else, for a day, is not this one's hour.
 */
async function madeAsAsked(
  alertmanager: AlertmanagerApi,
  orphan: StoredSilence,
  asked: Pick<StoredSilence, 'endsAt' | 'silencedBy' | 'reason'>,
): Promise<StoredSilence> {
  const same =
    orphan.silencedBy === asked.silencedBy &&
    orphan.reason === asked.reason &&
    Math.abs(orphan.endsAt.getTime() - asked.endsAt.getTime()) < 60_000;
  if (same) return orphan;
  const wanted = { ...orphan, ...asked };
  const silenceId = await alertmanager.postSilence(specOf(wanted, asked.silencedBy), orphan.silenceId);
  return { ...wanted, silenceId };
}

function specOf(silence: Omit<StoredSilence, 'silenceId'>, createdBy: string): SilenceSpec {
  return {
    matchers: silence.matchers,
    startsAt: silence.startsAt,
    endsAt: silence.endsAt,
    // The Slack user id: who to ask, from Alertmanager's UI.
    createdBy,
    comment: commentOf(silence.incidentId, silence.reason, silence.marker),
  };
}

/**
 * Alertmanager's failure, told to the person with what it left undone (`undone`: "nothing was
 * silenced", "the silence was not lifted"), as a SilenceError; any other error as it is.
 */
const told =
  (undone: string) =>
  (err: unknown): never => {
    throw silenceErrorOf(err, undone);
  };

function silenceErrorOf(err: unknown, undone: string): unknown {
  if (!(err instanceof AlertmanagerError)) return err;
  const reason = escapeMrkdwn(err.message);
  if (err.code === 'ALERTMANAGER_OUTCOME_UNKNOWN') {
    return new SilenceError(
      'ALERTMANAGER_OUTCOME_UNKNOWN',
      `Alertmanager may have taken it, but ${reason}, and it could not be found there yet: it may be in effect without the incident showing it. Asking again looks for it first rather than making a second.`,
    );
  }
  return err.code === 'ALERTMANAGER_UNREACHABLE'
    ? new SilenceError('ALERTMANAGER_UNREACHABLE', `Alertmanager did not answer, ${undone}: ${reason}.`)
    : new SilenceError('ALERTMANAGER_REFUSED', `Alertmanager did not take it, ${undone}: ${reason}.`);
}

function alreadySilenced(live: IncidentSilence): SilenceError {
  return new SilenceError(
    'ALREADY_SILENCED',
    `${incidentRef(live.incidentId)} is already silenced until ${slackDate(live.endsAt)} by ${userMention(live.silencedBy)}: extend it (\`/incident extend\`) or lift it (\`/incident unsilence\`).`,
  );
}

function notSilenced(incidentId: number): SilenceError {
  return new SilenceError('NOT_SILENCED', `${incidentRef(incidentId)} is not silenced.`);
}
