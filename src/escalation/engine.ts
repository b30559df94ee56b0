import type pg from 'pg';
import { isPerson } from '../actions/catalog.js';
import { inTransaction } from '../db/pool.js';
import { bumpVersion } from '../incidents/lifecycle.js';
import { addTimelineEntries } from '../incidents/timeline.js';
import { requestPage } from '../paging/pages.js';
import { BOT_ACTOR } from '../primitives/ids.js';
import type { Severity } from '../primitives/severity.js';
import type { EscalationConfig } from './configSchema.js';
import { anyEscalation, policyFor } from './policies.js';

/**
 * Escalation runs an alert-born incident's policy, step by step, until someone acknowledges it or it
 * resolves. Each step is decided from Postgres when its job runs: the incident's `escalation_step` says
 * which step is next, and moving it on is what runs a step, in the transaction that records the step's
 * mention (the thread shows it, once) and its page. A job that is stale (the step ran, the incident was
 * acknowledged, resolved or reopened since) does nothing, so jobs may be added again freely: at start, by
 * the sweep, after a crash.
 */

export interface EscalationDeps {
  pool: pg.Pool;
  config: { escalation: EscalationConfig };
  /**
   * A user group's id (S…) by its handle or id, as Slack last listed them: null when Slack has no such
   * handle, undefined while Slack has not listed them yet.
   */
  groupId(group: string): string | null | undefined;
}

/** How soon a step waiting for Slack to list the user groups it calls is tried again, and how long at most. */
const GROUPS_UNLISTED_RETRY_MS = 5000;
export const GROUPS_UNLISTED_WAIT_MS = 2 * 60_000;

/** A step to run: which incident, which of its openings (its reopen count), which step, when. */
export interface StepDue {
  incidentId: number;
  opening: number;
  step: number;
  at: Date;
}

interface EscalatedIncident {
  id: number;
  severity: Severity;
  commonLabels: Record<string, string>;
  groupLabels: Record<string, string>;
  opening: number;
  step: number;
  /** When its policy started to count for it (enrolled); null until a policy is first found for it. */
  startedAt: Date | null;
}

// Open, alert-born, not acknowledged: the incidents escalation is for.
const ESCALATING = "state = 'open' AND acknowledged_at IS NULL AND group_key IS NOT NULL";
// A start before the incident's last opening is an earlier opening's, which an older process's reopening
// left: not this opening's.
const STARTED = 'escalation_started_at >= opened_at';
const COLUMNS = `id::int AS id, severity, common_labels AS "commonLabels", group_labels AS "groupLabels",
  reopen_count AS opening, escalation_step AS step,
  CASE WHEN ${STARTED} THEN escalation_started_at END AS "startedAt"`;

/**
 * An incident the escalation finds a policy for the first time counts its steps from its opening if that
 * was this recent (its opening's job, or the sweep a minute later, finds it well within), else from now:
 * opened days before its policy was configured, or raised onto one, it is escalated from that moment, not
 * every step at once.
 */
const ENROLLED_FROM_OPENING_MS = 10 * 60_000;
const ENROLL = `escalation_started_at = CASE
  WHEN opened_at > now() - ${ENROLLED_FROM_OPENING_MS} * interval '1 millisecond' THEN opened_at ELSE now() END`;

/** The incident's next step under its policy, if it has one left. */
function nextStep(config: EscalationDeps['config'], incident: EscalatedIncident): StepDue | undefined {
  const step = policyFor(config, incident)?.policy.steps[incident.step];
  if (!step || !incident.startedAt) return undefined;
  return {
    incidentId: incident.id,
    opening: incident.opening,
    step: incident.step,
    at: new Date(incident.startedAt.getTime() + step.after),
  };
}

/** Enrolls those of `incidents` with a policy and no start yet; returns them all, started. */
async function enrolled(
  db: pg.ClientBase | pg.Pool,
  config: EscalationDeps['config'],
  incidents: EscalatedIncident[],
): Promise<EscalatedIncident[]> {
  const ids = incidents.filter((i) => !i.startedAt && policyFor(config, i)).map((i) => i.id);
  if (ids.length === 0) return incidents;
  const { rows } = await db.query<{ id: number; startedAt: Date }>(
    `UPDATE incidents SET ${ENROLL} WHERE id = ANY($1) AND ${ESCALATING} AND NOT COALESCE(${STARTED}, false)
      RETURNING id::int AS id, escalation_started_at AS "startedAt"`,
    [ids],
  );
  const started = new Map(rows.map((r) => [r.id, r.startedAt]));
  return incidents.map((i) => (started.has(i.id) ? { ...i, startedAt: started.get(i.id)! } : i));
}

export interface StepOutcome {
  /** Slack must show this version: the step was recorded. */
  version?: number;
  /** The step that ran (numbered from 1), and its policy: the step was recorded. */
  ran?: { policy: string; step: number };
  /** The step paged: the pagers must catch up. */
  paged?: boolean;
  /** What runs next: this same step later when it is not due yet, or the step after it. */
  next?: StepDue;
  /**
   * Slack has not listed the user groups the step calls: since when it (or a step before it) has waited
   * for them. Its job keeps it while it waits, the next step's once it ran: an outage is waited out once.
   */
  waitingSince?: number;
}

export async function runEscalationStep(
  deps: EscalationDeps,
  job: { incidentId: number; opening: number; step: number; waitingSince?: number },
): Promise<StepOutcome> {
  return inTransaction(deps.pool, async (db) => {
    const { rows } = await db.query<EscalatedIncident>(
      `SELECT ${COLUMNS} FROM incidents WHERE id = $1 AND ${ESCALATING} FOR UPDATE`,
      [job.incidentId],
    );
    const found = rows[0];
    if (!found || found.opening !== job.opening || found.step !== job.step) return {};
    const chosen = policyFor(deps.config, found);
    const step = chosen?.policy.steps[job.step];
    if (!chosen || !step) return {};
    const incident = (await enrolled(db, deps.config, [found]))[0]!;
    const due = nextStep(deps.config, incident)!;
    if (due.at.getTime() > Date.now()) return { next: due };

    // Handles are mentioned by id, which Slack needs to notify the group's members. One Slack has not
    // listed yet (an outage since the start) would notify nobody, and the step would not come again: a
    // step that pages nobody waits for the listing, up to GROUPS_UNLISTED_WAIT_MS from its first try,
    // however overdue, whichever worker tries it (the steps after it wait with it); one that pages goes at
    // once. One Slack has no longer is shown as written.
    const ids = step.notify.map((entry) => (isPerson(entry) ? entry : deps.groupId(entry)));
    const unlisted = ids.includes(undefined);
    const waitingSince = job.waitingSince ?? Date.now();
    if (unlisted && !step.page && Date.now() - waitingSince < GROUPS_UNLISTED_WAIT_MS)
      return { next: { ...due, at: new Date(Date.now() + GROUPS_UNLISTED_RETRY_MS) }, waitingSince };
    const notify = ids.map((id, i) => id ?? step.notify[i]!);
    await addTimelineEntries(db, incident.id, [
      {
        kind: 'incident_escalated',
        actor: BOT_ACTOR,
        data: {
          policy: chosen.name,
          step: job.step + 1,
          steps: chosen.policy.steps.length,
          afterMs: step.after,
          notify,
          ...(step.page ? { page: step.page } : {}),
        },
      },
    ]);
    if (step.page) await requestPage(db, { incidentId: incident.id, pager: step.page, step: job.step + 1 });
    const version = await bumpVersion(db, incident.id, { set: 'escalation_step = escalation_step + 1' });
    const next = nextStep(deps.config, { ...incident, step: job.step + 1 });
    return {
      version,
      ran: { policy: chosen.name, step: job.step + 1 },
      ...(step.page ? { paged: true } : {}),
      ...(next ? { next } : {}),
      ...(unlisted ? { waitingSince } : {}),
    };
  });
}

/** The next step of every incident being escalated: what a worker schedules at start and every sweep. */
export async function escalationsDue(deps: Pick<EscalationDeps, 'pool' | 'config'>): Promise<StepDue[]> {
  // Every open incident would be read to find no policy for any of them.
  if (!anyEscalation(deps.config)) return [];
  const { rows } = await deps.pool.query<EscalatedIncident>(
    `SELECT ${COLUMNS} FROM incidents WHERE ${ESCALATING} ORDER BY id`,
  );
  return (await enrolled(deps.pool, deps.config, rows)).flatMap(
    (incident) => nextStep(deps.config, incident) ?? [],
  );
}
