import type { Queue } from 'bullmq';

export const ACTIONS_QUEUE = 'actions';

/** Jobs of one action request. `run`'s job id is the request id, so an approval enqueues it once. */
export type ActionJob =
  | { kind: 'dry-run'; requestId: number }
  | { kind: 'run'; requestId: number }
  | { kind: 'expire'; requestId: number };

const OPTIONS = { removeOnComplete: true, removeOnFail: { count: 1000 } };

export const actionJobId = (job: ActionJob) =>
  job.kind === 'run' ? `action-${job.requestId}` : `${job.kind}-${job.requestId}`;

export async function enqueueAction(queue: Queue<ActionJob>, job: ActionJob, delayMs = 0): Promise<void> {
  // A run is never retried blindly: an interrupted one is decided by the action's onInterrupted rule.
  const attempts = job.kind === 'run' ? 1 : 5;
  await queue.add(job.kind, job, {
    ...OPTIONS,
    jobId: actionJobId(job),
    delay: delayMs,
    attempts,
    backoff: { type: 'exponential', delay: 1000 },
  });
}
