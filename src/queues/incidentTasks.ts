import type { Queue } from 'bullmq';
import { CAPPED_BACKOFF } from './backoff.js';
import { type EscalationJob, scheduleEscalationStep, stopEscalation } from './escalationJobs.js';
import { enqueuePlaybookChecks, type HealthJob } from './healthJobs.js';
import { enqueueIncidentSync, type Scheduling, type SlackSyncJob, scheduleAt } from './queues.js';

export const INCIDENT_TASKS_QUEUE = 'incident-tasks';

/** Jobs about one incident that are not Slack syncs: reminders, its channel, its post-mortem. */
export type IncidentTask =
  | { kind: 'update-reminder'; incidentId: number }
  | { kind: 'commander-reminder'; incidentId: number }
  | { kind: 'create-channel'; incidentId: number }
  /**
   * `revision` is set once generated, so that a retried upload sends the same one. `swept`: queued again
   * by the sweep, written only while PostgreSQL still holds the request (the job it follows may have just
   * uploaded it).
   */
  | { kind: 'postmortem'; incidentId: number; requestedBy: string; revision?: number; swept?: true }
  /** A service still running degraded: remind the incident that enabled it. */
  | { kind: 'degradation-reminder'; service: string }
  /** The incident's silence ends: record it, so that its root message stops showing it. */
  | { kind: 'silence-end'; incidentId: number }
  /**
   * Alertmanager truncated a resolved notification of the incident, sent to `receiver`: ask it which of
   * the group's alerts are still live (src/alerts/leftOutAlerts.ts).
   */
  | { kind: 'left-out-alerts'; incidentId: number; receiver: string }
  /**
   * Every minute: the reminders, silence ends, channels, post-mortems and questions to Alertmanager
   * Postgres knows of, queued again.
   */
  | { kind: 'sweep' };

/** A task that runs at a time of its own, one job per incident (or service) and kind. */
export type ScheduledTask = Exclude<IncidentTask, { kind: 'sweep' }>;

/**
 * How often a worker sweeps PostgreSQL for the reminders and silence ends due (and the channels and
 * post-mortems still to make), and how far ahead: each sweep schedules those due within two sweeps, so
 * one due is scheduled by the sweep before it whatever the sweeps' timing.
 */
export const SWEEP_EVERY_MS = 60_000;
export const SWEPT_AHEAD_MS = 2 * SWEEP_EVERY_MS;

// One job per incident and kind: rescheduling moves the job instead of leaving stale ones behind.
export const taskJobId = (task: ScheduledTask) =>
  task.kind === 'degradation-reminder' ? `${task.kind}-${task.service}` : `${task.kind}-${task.incidentId}`;

/** Whether `at` comes before the workers' sweeps schedule what is due then (see SWEPT_AHEAD_MS). */
const beforeTheSweeps = (at: Date) => at.getTime() - Date.now() <= SWEPT_AHEAD_MS;

// A task failed for good (a Slack outage of hours) is queued again by the workers' sweep where PostgreSQL
// says it is still to do: reminders, silence ends, channels, post-mortems.
const KEEP = {
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
  attempts: 100,
  backoff: CAPPED_BACKOFF,
};

/**
 * What an incident's opening can start, and its acknowledgement stop, as the config has it: a job for what
 * can never apply is neither added (a storm opens an incident per group, and each such job would read its
 * incident to do nothing) nor looked for.
 */
export interface ConfiguredWork {
  /** An escalation route or severity names a policy (anyEscalation). */
  escalation: boolean;
  /** A playbook has auto checks (anyAutoChecks). */
  autoChecks: boolean;
  /** A pager is configured (anyPager). */
  paging: boolean;
  /** Alertmanager's API is configured: it can be asked for the alerts a notification left out. */
  alertmanagerApi: boolean;
}

/**
 * The lifecycle's `IncidentEffects`, carried out with queue jobs. It fits that interface structurally:
 * a port does not import the use case it serves (the composition root checks the fit).
 */
export class QueuedIncidentEffects {
  constructor(
    private readonly sync: Queue<SlackSyncJob>,
    private readonly tasks: Queue<IncidentTask>,
    private readonly escalation: Queue<EscalationJob>,
    /** The paging use case's PageEffects (src/paging/pages.ts). */
    private readonly pages: { pagesChanged(incidentId: number): Promise<void> },
    private readonly health: Queue<HealthJob>,
    private readonly work: ConfiguredWork,
  ) {}

  changed(incidentId: number, version: number): Promise<void> {
    return enqueueIncidentSync(this.sync, incidentId, version);
  }

  /**
   * A reminder due no sooner than it was, and past the workers' next sweeps (SWEPT_AHEAD_MS), is left to
   * them, with no round trip to Redis while the person who made the change waits: PostgreSQL has the
   * time, and a job left at the earlier one runs, finds the update not due and waits for it. Any other is
   * scheduled now: one due sooner, or after none was due, is moved (the sweeps leave a job that has
   * failed once, see sweptTo); one due within the sweeps' reach is not left to come late. A new
   * incident's is added without looking for one to move: one there after all (Redis kept the jobs of a
   * database since restored) runs early, finds the update not due and waits, or, later, is moved by the
   * sweep.
   */
  async updateDue(
    incidentId: number,
    _updateCount: number,
    dueAt: Date | null,
    { newIncident = false, wasDueAt }: { newIncident?: boolean; wasDueAt?: Date | null } = {},
  ): Promise<void> {
    if (!dueAt) return;
    // None due before says nothing of a job: one left when its severity's interval was taken away may wait
    // past this due time, and a job that has failed once is not moved by the sweeps.
    const noSooner = newIncident || (wasDueAt instanceof Date && wasDueAt <= dueAt);
    if (noSooner && !beforeTheSweeps(dueAt)) return;
    await this.schedule({ kind: 'update-reminder', incidentId }, dueAt, { newJob: newIncident });
  }

  /**
   * Asked only as an incident is declared, and scheduled now only when due before the workers' next
   * sweeps would (as updateDue). It is added without a look: one kept from a restored database waits for
   * its time when it runs.
   */
  async commanderDue(incidentId: number, at: Date): Promise<void> {
    if (beforeTheSweeps(at))
      await this.schedule({ kind: 'commander-reminder', incidentId }, at, { newJob: true });
  }

  async channelNeeded(incidentId: number): Promise<void> {
    const task: IncidentTask = { kind: 'create-channel', incidentId };
    await this.tasks.add(task.kind, task, { ...KEEP, jobId: taskJobId(task) });
  }

  async postmortemRequested(incidentId: number, requestedBy: string): Promise<void> {
    const task: IncidentTask = { kind: 'postmortem', incidentId, requestedBy };
    // A second request while one is queued is the same request (a double click). One while it runs is
    // left to the sweep: PostgreSQL still holds it after the upload of a revision written before it.
    await this.tasks.add(task.kind, task, { ...KEEP, jobId: taskJobId(task) });
  }

  /**
   * As an acknowledgement. Its reminders are left to run at their time: each reads Postgres, finds the
   * incident resolved and says nothing (or, reopened meanwhile, reminds of it as it is now; a reopening
   * moves its update reminder in one round trip). Dropping them cost each resolve two to four round trips
   * to Redis while the person waited, for jobs that do nothing when they run. A reopening at the very
   * moment its reminder runs (and finds it resolved) leaves that run to end: the workers' sweep schedules
   * the update reminder again (every minute, those due within two). Declared incidents, the only ones
   * with a commander reminder, never reopen.
   */
  resolved(incidentId: number): Promise<void> {
    return this.acknowledged(incidentId);
  }

  /**
   * Its escalation steps still waiting are dropped, and its pages brought in step, where the config has
   * either. A step left by a config since changed runs, finds the incident acknowledged and does nothing;
   * a page is brought in step by the pages' sweep (every minute), or refused if its pager is gone.
   */
  async acknowledged(incidentId: number): Promise<void> {
    await Promise.all([
      this.work.escalation ? stopEscalation(this.escalation, incidentId) : undefined,
      this.work.paging ? this.pages.pagesChanged(incidentId) : undefined,
    ]);
  }

  /**
   * Its first step is looked at now: the step job waits until the step is due. Reopened, a pager paged
   * for an earlier opening rings again at once, whatever step the new opening pages at. Its playbook's
   * auto checks, if it has any, run for each opening. The step job is added only where a route or a
   * severity names a policy, the checks job only where a playbook has auto checks, the pages looked at
   * only where a pager is configured (ConfiguredWork). A config gains any of them only with a restart; a
   * serving process not yet restarted onto it leaves them to the workers' sweeps (every minute; the
   * checks for incidents opened within the last 15).
   */
  async opened(incidentId: number, opening: number): Promise<void> {
    // Each opening's steps are jobs of their own. One the escalation sweep added meanwhile is the same job;
    // a stale one (jobs kept from a database since restored) is set right by that sweep within a minute.
    if (this.work.escalation)
      await scheduleEscalationStep(this.escalation, { incidentId, opening, step: 0 }, new Date(), {
        newJob: true,
      });
    if (this.work.autoChecks)
      await enqueuePlaybookChecks(this.health, { kind: 'playbook', incidentId, opening });
    if (opening > 0 && this.work.paging) await this.pages.pagesChanged(incidentId);
  }

  /**
   * Alertmanager truncated a resolved notification of the incident: it is asked which alerts are still
   * live, where its API is configured. False where it is not: the incident stays open for them.
   */
  async alertsLeftOut(incidentId: number, receiver: string): Promise<boolean> {
    if (!this.work.alertmanagerApi) return false;
    const task: IncidentTask = { kind: 'left-out-alerts', incidentId, receiver };
    await this.tasks.add(task.kind, task, { ...KEEP, jobId: taskJobId(task) });
    return true;
  }

  /** The incident's silence ends at `at` (moved when it is extended). */
  silenceEnds(incidentId: number, at: Date): Promise<void> {
    return this.schedule({ kind: 'silence-end', incidentId }, at);
  }

  /** While `service` runs degraded, remind its incident at `at` (and every interval after). */
  degradationDue(service: string, at: Date): Promise<void> {
    return this.schedule({ kind: 'degradation-reminder', service }, at);
  }

  /**
   * As a reminder is scheduled, but a job waiting out a retry's backoff is left: the worker's sweep. A
   * channel's or a post-mortem's job, due at once, is left waiting whatever it waits out: Slack's
   * Retry-After, or the incident's root message, too.
   */
  sweptTo(task: ScheduledTask, at: Date): Promise<void> {
    const atOnce =
      task.kind === 'create-channel' || task.kind === 'postmortem' || task.kind === 'left-out-alerts';
    return this.schedule(task, at, atOnce ? { sparingWaits: true } : { sparingRetries: true });
  }

  /** Adds the reminder, or moves an already waiting one to the new time. */
  private schedule(task: ScheduledTask, at: Date, how: Scheduling = {}): Promise<void> {
    return scheduleAt(this.tasks, task.kind, task, { ...KEEP, jobId: taskJobId(task) }, at, how);
  }
}
