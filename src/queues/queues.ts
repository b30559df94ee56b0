import { ErrorCode, Job, type JobsOptions, Queue } from 'bullmq';
import { Redis, type RedisOptions } from 'ioredis';
import { CAPPED_BACKOFF, MAX_RETRY_WAIT_MS } from './backoff.js';

/**
 * The queue of Slack projections: an incident's messages, an action request's approval message, a heartbeat
 * gap's messages; and the periodic passes that find what Slack should show.
 */
export const SLACK_SYNC_QUEUE = 'slack-sync';

export type SlackSyncJob =
  /** With the version it was queued for: it ends at once when a sync has already shown Slack that one. */
  | { kind: 'incident'; incidentId: number; version?: number }
  | { kind: 'action-request'; requestId: number }
  | { kind: 'heartbeat-gap'; gapId: number }
  | { kind: 'reconcile' }
  | { kind: 'heartbeat-check' };

/**
 * A connection that has left a command unanswered this long is taken for gone silent (open, nothing coming
 * back: a NAT that forgot the flow, some failovers), which TCP keepalive notices only after minutes: it is
 * closed and opened again, its commands sent again. Above BullMQ's longest blocking read (10 s) with room.
 */
export const REDIS_SILENT_MS = 20_000;

/**
 * Redis after a failover: the old primary, demoted to replica, keeps its connections open and refuses their
 * writes (READONLY) for good, while the address names the new primary to a connection made now.
 */
const isDemotedPrimary = (err: Error) => err.message.startsWith('READONLY');

/** Redis for request handlers: fail fast when Redis is down, so the handler can answer 503 at once. */
export function createProducerRedis(url: string): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: 1,
    enableOfflineQueue: false,
    connectTimeout: 3000,
    lazyConnect: false,
    socketTimeout: REDIS_SILENT_MS,
    // Connects again (1), the write failing fast like any other while Redis is away.
    reconnectOnError: (err) => isDemotedPrimary(err) && 1,
  });
}

/**
 * True for what a producer connection throws while Redis is unreachable: it fails fast (no offline queue,
 * one retry) rather than wait, so the caller can say "try again" instead of timing out. And for Redis's
 * own answers while it fails over: a replica refusing writes (READONLY) or without its primary
 * (MASTERDOWN), a server loading its data (LOADING), a cluster moving or missing slots (TRYAGAIN,
 * CLUSTERDOWN).
 */
export function isTransientQueueError(err: unknown): boolean {
  const message = (err as { message?: unknown } | undefined)?.message;
  return (
    typeof message === 'string' &&
    (/Connection is closed|Stream isn't writeable|Reached the max retries per request|ECONNREFUSED|ECONNRESET/.test(
      message,
    ) ||
      /^(READONLY|MASTERDOWN|LOADING|TRYAGAIN|CLUSTERDOWN) /.test(message))
  );
}

/** How many commands a worker connection resends in a minute after a demoted primary refused them. */
export const DEMOTED_RESENDS = 5;

/**
 * Connected again on a demoted primary's refusal, the refused command sent again (2): it was not run. Only
 * DEMOTED_RESENDS in the last minute: past them the address still leads to a replica (a misconfiguration,
 * a DNS record not updated), and resending would go on for as long, failing nothing and saying nothing.
 * Then the command fails (1), so BullMQ reports it and waits before its next try. One budget a connection.
 */
function demotedResends(): (err: Error) => false | 1 | 2 {
  const resent: number[] = [];
  return (err) => {
    if (!isDemotedPrimary(err)) return false;
    const now = Date.now();
    while (resent.length > 0 && now - resent[0]! > 60_000) resent.shift();
    if (resent.length >= DEMOTED_RESENDS) return 1;
    resent.push(now);
    return 2;
  };
}

/**
 * A worker's connection, and each one BullMQ duplicates from it (a Worker's blocking connection), with a
 * resend budget of its own: copied options would share one, spent by a single failover under a few.
 */
class WorkerRedis extends Redis {
  override duplicate(override?: Partial<RedisOptions>): Redis {
    const options = { ...this.options, ...override, reconnectOnError: demotedResends() };
    return new WorkerRedis(options as RedisOptions & { replyMapping?: undefined });
  }
}

/**
 * Redis for workers: BullMQ's blocking commands need maxRetriesPerRequest null. Without a limit on silence,
 * a worker whose connection went silent waited on it for good, taking no job, while /healthz said ok.
 */
export function createWorkerRedis(url: string): Redis {
  return new WorkerRedis(url, {
    maxRetriesPerRequest: null,
    socketTimeout: REDIS_SILENT_MS,
    reconnectOnError: demotedResends(),
  });
}

export function createQueue<T>(name: string, connection: Redis, prefix: string): Queue<T> {
  return new Queue<T>(name, { connection, prefix });
}

export function createSlackSyncQueue(connection: Redis, prefix: string): Queue<SlackSyncJob> {
  return createQueue<SlackSyncJob>(SLACK_SYNC_QUEUE, connection, prefix);
}

/** How scheduleAt treats a job of the same id (see there). */
export interface Scheduling {
  sparingRetries?: boolean;
  sparingWaits?: boolean;
  newJob?: boolean;
}

/**
 * Adds the job `opts.jobId` names to run at `at`, or moves it there if it is already waiting for its
 * time. One waiting to run or running now is left alone: it reads Postgres when it runs, and schedules
 * its next run from there. The move is tried first: a job waiting for its time (a reminder, which every
 * status update moves) is moved in one round trip, a missing one added in two.
 *
 * With `sparingRetries` (a sweep's), a job waiting out a retry's backoff (it failed before, and waits no
 * longer than a capped backoff can) is left where it is: moved to a time already due, it would retry now,
 * every sweep, its backoff cut short. One that failed once and has since put itself back for a later run
 * (a reminder's next) is moved as any other: BullMQ never counts a job's failures back down.
 * With `sparingWaits` (a sweep's, for a task due at once), any job waiting for its time is left: only its
 * worker put it there, out of a retry's backoff or Slack's Retry-After, which a move would cut short.
 *
 * With `newJob`, the caller expects no job of this id (its incident, or its opening, was just created):
 * it is added in one round trip, without the move that would be refused. One there after all is left as it
 * is, in whatever state, so only a job a sweep schedules again may be added so. It takes precedence over
 * `sparingRetries` and `sparingWaits`.
 */
export async function scheduleAt<T>(
  queue: Queue<T, unknown, string, T, unknown, string>,
  name: string,
  data: T,
  opts: JobsOptions & { jobId: string },
  at: Date,
  { sparingRetries = false, sparingWaits = false, newJob = false }: Scheduling = {},
): Promise<void> {
  const delay = Math.max(0, at.getTime() - Date.now());
  if (newJob) {
    await queue.add(name, data, { ...opts, delay });
    return;
  }
  if (sparingRetries || sparingWaits) {
    const existing = await Job.fromId(queue, opts.jobId);
    // A job's delay is the wait it was last given, from then: within the cap for a backoff's.
    const retrying = existing && existing.attemptsMade > 0 && existing.delay <= MAX_RETRY_WAIT_MS;
    const spared = existing && (sparingWaits || retrying);
    if (spared && (await existing.getState()) === 'delayed') return;
  }
  const refused = await new Job(queue, name, data, opts, opts.jobId).changeDelay(delay).then(
    () => undefined,
    (err: { code?: unknown }) => {
      if (err.code === ErrorCode.JobNotExist || err.code === ErrorCode.JobNotInState) return err.code;
      throw err;
    },
  );
  if (refused === undefined) return;
  // Not waiting for its time: looked at; a missing job is added.
  const existing = refused === ErrorCode.JobNotInState ? await Job.fromId(queue, opts.jobId) : undefined;
  if (existing) {
    const state = await existing.getState();
    if (state === 'delayed') {
      // Back to waiting for its time since (a retry), and its time may come before this move: then it
      // runs now, which is as good.
      return existing.changeDelay(delay).catch(async (err: unknown) => {
        if ((await existing.getState()) === 'delayed') throw err;
      });
    }
    if (state === 'active' || state === 'waiting' || state === 'prioritized') return;
    // Finished or failed: make room for the new one (unless a worker took it meanwhile: 0 removed).
    await queue.remove(opts.jobId);
  }
  await queue.add(name, data, { ...opts, delay });
}

/**
 * For a sweep, which finds in Postgres work whose job may be gone: unless the job `jobId` is waiting or
 * running, `add` queues it again, after removing a finished one (failed, or completed and kept), which
 * would make the add a no-op under its id. True when it was queued again. Queue.remove, not Job.remove: a
 * job another process's sweep queued again, and a worker took, since the look is left to it (0 removed),
 * where Job.remove throws (the sweep failed, and a worker's start with it).
 */
export async function requeue(
  queue: Pick<Queue, 'getJobState' | 'remove'>,
  jobId: string,
  add: () => Promise<unknown>,
): Promise<boolean> {
  const state = await queue.getJobState(jobId);
  if (state !== 'failed' && state !== 'completed' && state !== 'unknown') return false;
  // Also an unknown one: a record left in no list would make the add a no-op. 0 removed: a worker took
  // it since the look (BullMQ answers 1 for a job that is not there).
  if ((await queue.remove(jobId)) === 0) return false;
  await add();
  return true;
}

const SYNC_JOB_OPTIONS = {
  attempts: 100,
  backoff: CAPPED_BACKOFF,
  removeOnComplete: true,
  removeOnFail: true,
};

/** The sync job of an incident's `version`: one per version, which IncidentSyncVersions looks for. */
export const incidentSyncJobId = (incidentId: number, version: number) =>
  `incident-${incidentId}-v${version}`;

/**
 * Asks a worker to bring the incident's Slack messages up to `version`. One job per version: a change
 * recorded while a sync runs gets a job of its own, so no change waits for the next delivery; adding the
 * same version twice is a no-op. A job whose version is shown, or with the next version's job still
 * queued, ends without reading (IncidentSyncVersions). The reconcile pass asks for a full look
 * (`skipIfCovered: false`): it trusts the database alone.
 */
export async function enqueueIncidentSync(
  queue: Queue<SlackSyncJob>,
  incidentId: number,
  version: number,
  { skipIfCovered = true }: { skipIfCovered?: boolean } = {},
): Promise<void> {
  await queue.add(
    'incident',
    { kind: 'incident', incidentId, ...(skipIfCovered ? { version } : {}) },
    { ...SYNC_JOB_OPTIONS, jobId: incidentSyncJobId(incidentId, version) },
  );
}

/** The same for an action request's approval message. */
export async function enqueueActionMessageSync(
  queue: Queue<SlackSyncJob>,
  requestId: number,
  version: number,
): Promise<void> {
  await queue.add(
    'action-request',
    { kind: 'action-request', requestId },
    { ...SYNC_JOB_OPTIONS, jobId: `action-request-${requestId}-v${version}` },
  );
}

/**
 * The same for a heartbeat gap's messages: `missing` once it is found, `back` once it ended. One job for
 * each, so that the end of a gap is never taken for a repeat of a job still telling its start.
 */
export async function enqueueHeartbeatGapSync(
  queue: Queue<SlackSyncJob>,
  gapId: number,
  news: 'missing' | 'back',
): Promise<void> {
  await queue.add(
    'heartbeat-gap',
    { kind: 'heartbeat-gap', gapId },
    { ...SYNC_JOB_OPTIONS, jobId: `heartbeat-gap-${gapId}-${news}` },
  );
}
