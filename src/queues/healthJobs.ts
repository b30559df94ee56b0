import type { Queue } from 'bullmq';
import { CAPPED_BACKOFF } from './backoff.js';
import { requeue } from './queues.js';

export const HEALTH_QUEUE = 'health-checks';

/**
 * Health checks someone asked for: run them and post the result where they were asked for. The request
 * is a row of health_requests (src/health/requests.ts), which the job reads.
 */
export interface RequestedChecks {
  kind: 'requested';
  requestId: number;
  /**
   * Set by an older version, whose jobs kept here that who asked was shown the result while the channel's
   * message waited: the request's row keeps it now (shown_to_asker_at).
   */
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

const requestedJobId = (requestId: number) => `health-request-${requestId}`;

/**
 * A playbook's auto checks, for about an hour of an outage (10 tries in the first 8.5 minutes, then one
 * every 5): longer, and checks run "as the incident opened" would tell of another moment, each try
 * running every check again against a service in trouble, for a failure that may be for good.
 */
const AUTO_CHECKS_TRIES = { attempts: 20, backoff: CAPPED_BACKOFF };

/**
 * One job per request. A Slack outage is waited out: tried again within minutes of its end, however long
 * it lasted (after that, the workers' sweep queues the request again).
 */
export async function enqueueHealthCheck(queue: Queue<HealthJob>, job: RequestedChecks): Promise<void> {
  await queue.add('check', job, {
    ...KEEP,
    jobId: requestedJobId(job.requestId),
    attempts: 100,
    backoff: CAPPED_BACKOFF,
  });
}

const playbookJobId = (job: PlaybookChecks) => `playbook-checks-${job.incidentId}-${job.opening}`;

/**
 * One job per incident and opening; adding it again is harmless, as the checks record that they ran. It
 * rides out an outage by itself (AUTO_CHECKS_TRIES): the sweep queues the checks again only for
 * incidents opened in the last 15 minutes (ten tries of BullMQ's exponential backoff gave up after 8.5
 * minutes of Slack down, and the checks never ran).
 */
export async function enqueuePlaybookChecks(queue: Queue<HealthJob>, job: PlaybookChecks): Promise<void> {
  await queue.add('playbook-checks', job, { ...KEEP, jobId: playbookJobId(job), ...AUTO_CHECKS_TRIES });
}

/**
 * For the sweeps, which find checks still unposted: a job kept after failing every attempt (a long Slack
 * outage) would make the add a no-op under its id, so it is removed and added afresh.
 */
export async function requeuePlaybookChecks(queue: Queue<HealthJob>, job: PlaybookChecks): Promise<void> {
  await requeue(queue, playbookJobId(job), () => enqueuePlaybookChecks(queue, job));
}

export async function requeueHealthCheck(queue: Queue<HealthJob>, requestId: number): Promise<void> {
  await requeue(queue, requestedJobId(requestId), () =>
    enqueueHealthCheck(queue, { kind: 'requested', requestId }),
  );
}
