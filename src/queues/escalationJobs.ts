import { Job, type Queue } from 'bullmq';

export const ESCALATION_QUEUE = 'escalation';

/**
 * An escalation step of an incident, and the periodic sweep that (re)schedules every step due. A step job
 * reads Postgres when it runs (src/escalation/engine.ts): a stale one does nothing.
 */
export type EscalationJob =
  /** `opening`: the incident's reopen count when it was scheduled; `step`: its index in the policy. */
  { kind: 'step'; incidentId: number; opening: number; step: number } | { kind: 'sweep' };

export type EscalationStepJob = Extract<EscalationJob, { kind: 'step' }>;

// One job per step of one opening: adding it again, from a restart or the sweep, is a no-op.
const stepJobId = (job: EscalationStepJob) => `step-${job.incidentId}-${job.opening}-${job.step}`;

const OPTIONS = {
  removeOnComplete: true,
  removeOnFail: { count: 1000 },
  attempts: 20,
  backoff: { type: 'exponential', delay: 1000 },
};

/** Runs the step at `at` (now if past), unless it is scheduled already. */
export async function scheduleEscalationStep(
  queue: Queue<EscalationJob>,
  step: Omit<EscalationStepJob, 'kind'>,
  at: Date,
): Promise<void> {
  const job: EscalationStepJob = { kind: 'step', ...step };
  const existing = await Job.fromId(queue, stepJobId(job));
  // A step that failed every attempt is tried again rather than left to block the ones after it.
  if (existing && (await existing.isFailed())) await existing.remove();
  await queue.add('step', job, {
    ...OPTIONS,
    jobId: stepJobId(job),
    delay: Math.max(0, at.getTime() - Date.now()),
  });
}

/** Drops the incident's steps still waiting (it was acknowledged or resolved). */
export async function stopEscalation(queue: Queue<EscalationJob>, incidentId: number): Promise<void> {
  for (const job of await queue.getJobs(['delayed', 'waiting', 'prioritized'])) {
    if (job?.data.kind === 'step' && job.data.incidentId === incidentId) await job.remove();
  }
}
