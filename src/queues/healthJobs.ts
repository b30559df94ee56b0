import { randomUUID } from 'node:crypto';
import { Job, type Queue } from 'bullmq';

export const HEALTH_QUEUE = 'health-checks';

/** Health checks someone asked for: run them and post the result where they were asked for. */
export interface RequestedChecks {
  kind?: 'requested';
  services: string[];
  /** Only these checks of each service (a playbook's check button); all of them when left out. */
  checks?: string[];
  channelId: string;
  threadTs?: string;
  requestedBy: string;
  /** The incident they were run for: its timeline records them. */
  incidentId?: number;
  /** Who asked was shown a result while the channel's message waited: not shown them again. */
  shownToAsker?: boolean;
}

/** The auto checks of an incident's playbook, for its `opening`-th opening (its reopen count). */
export interface PlaybookChecks {
  kind: 'playbook';
  incidentId: number;
  opening: number;
}

export type HealthJob = RequestedChecks | PlaybookChecks;

const KEEP = { removeOnComplete: true, removeOnFail: { count: 100 } };

/**
 * `requestKey` names the Slack request that asked (its trigger_id): an add repeated for it while the job
 * waits, one that failed as far as we could tell but reached Redis, queues nothing more.
 */
export async function enqueueHealthCheck(
  queue: Queue<HealthJob>,
  job: RequestedChecks,
  requestKey?: string,
): Promise<void> {
  await queue.add('check', job, {
    ...KEEP,
    // BullMQ refuses a custom job id holding ':'.
    jobId: `health-${requestKey?.replaceAll(':', '-') ?? randomUUID()}`,
    attempts: 3,
  });
}

const playbookJobId = (job: PlaybookChecks) => `playbook-checks-${job.incidentId}-${job.opening}`;

/** One job per incident and opening; adding it again is harmless, as the checks record that they ran. */
export async function enqueuePlaybookChecks(queue: Queue<HealthJob>, job: PlaybookChecks): Promise<void> {
  await queue.add('playbook-checks', job, {
    ...KEEP,
    jobId: playbookJobId(job),
    attempts: 10,
    backoff: { type: 'exponential', delay: 1000 },
  });
}

/**
 * For the sweep, which finds the checks still unrecorded: a job kept after failing every attempt (a long
 * Slack outage) would make the add a no-op under its id, so it is removed and added afresh.
 */
export async function requeuePlaybookChecks(queue: Queue<HealthJob>, job: PlaybookChecks): Promise<void> {
  const failed = await Job.fromId(queue, playbookJobId(job));
  if (failed && (await failed.isFailed())) await failed.remove();
  await enqueuePlaybookChecks(queue, job);
}
