import type { Queue } from 'bullmq';
import { type Scheduling, scheduleAt } from './queues.js';

export const ESCALATION_QUEUE = 'escalation';

/**
 * An escalation step of an incident, and the periodic sweep that (re)schedules every step due. A step job
 * reads Postgres when it runs (src/escalation/engine.ts): a stale one does nothing.
 */
export type EscalationJob =
  /**
   * `opening`: the incident's reopen count when it was scheduled; `step`: its index in the policy;
   * `waitingSince`: when it began waiting for Slack to list the user groups it calls (ms since the epoch).
   */
  | { kind: 'step'; incidentId: number; opening: number; step: number; waitingSince?: number }
  | { kind: 'sweep' };

export type EscalationStepJob = Extract<EscalationJob, { kind: 'step' }>;

// One job per step of one opening: adding it again, from a restart or the sweep, is a no-op. stopEscalation
// finds an incident's steps by this id.
const stepJobId = (job: EscalationStepJob) => `step-${job.incidentId}-${job.opening}-${job.step}`;

const OPTIONS = {
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
  attempts: 20,
  backoff: { type: 'exponential', delay: 1000 },
};

/**
 * Runs the step at `at` (now if past). One waiting for another time is moved (the incident's severity, so
 * its policy, changed since); one that failed every attempt is tried again rather than left to block the
 * ones after it.
 */
export async function scheduleEscalationStep(
  queue: Queue<EscalationJob>,
  step: Omit<EscalationStepJob, 'kind'>,
  at: Date,
  how: Scheduling = {},
): Promise<void> {
  const job: EscalationStepJob = { kind: 'step', ...step };
  await scheduleAt(queue, 'step', job, { ...OPTIONS, jobId: stepJobId(job) }, at, how);
}

/**
 * Drops the incident's steps still waiting (it was acknowledged or resolved), found by their ids: every
 * incident's are waiting, and reading each one's job took 13–16 ms of CPU per call with 500 of them. One a
 * worker took since they were listed is left to it: it reads Postgres and does nothing (Job.remove would
 * throw, after the commit).
 */
export async function stopEscalation(queue: Queue<EscalationJob>, incidentId: number): Promise<void> {
  const ids = await queue.getRanges(['delayed', 'waiting', 'prioritized'], 0, -1);
  const prefix = `step-${incidentId}-`;
  await Promise.all(ids.filter((id) => id.startsWith(prefix)).map((id) => queue.remove(id)));
}
