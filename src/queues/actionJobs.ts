import type { Queue } from 'bullmq';
import { requeue } from './queues.js';

export const ACTIONS_QUEUE = 'actions';

/** Jobs of one action request. `run`'s job id is the request id, so an approval enqueues it once. */
export type ActionJob =
  | { kind: 'dry-run'; requestId: number }
  | { kind: 'run'; requestId: number }
  | { kind: 'expire'; requestId: number }
  /** Periodic: requests whose job is gone (Redis lost it, or it failed) are picked up again. */
  | { kind: 'sweep' };

const OPTIONS = { removeOnComplete: true, removeOnFail: { count: 1000 } };

export const actionJobId = (job: Exclude<ActionJob, { kind: 'sweep' }>) =>
  job.kind === 'run' ? `action-${job.requestId}` : `${job.kind}-${job.requestId}`;

export async function enqueueAction(
  queue: Queue<ActionJob>,
  job: Exclude<ActionJob, { kind: 'sweep' }>,
  delayMs = 0,
): Promise<void> {
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

/** For the sweep, which finds a request approved, or running, in Postgres: see `requeue`. */
export function requeueAction(queue: Queue<ActionJob>, job: Exclude<ActionJob, { kind: 'sweep' }>) {
  return requeue(queue, actionJobId(job), () => enqueueAction(queue, job));
}
