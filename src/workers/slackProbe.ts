import { randomUUID } from 'node:crypto';
import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from '../observability/logger.js';
import type { SlackSyncJob } from '../queues/queues.js';
import { SLACK_CALL_TIMEOUT_MS, type SlackApi } from '../slack/slackApi.js';

/** How often, while Slack is down, one worker asks it whether it is back. */
export const PROBE_EVERY_MS = 2000;
// A down mark outlives any backoff (5 minutes), so the syncs waiting it out are always released; it
// expires on its own should every worker stop before Slack answers again.
const DOWN_MARK_MS = 60 * 60_000;

// A failure reported this soon after an outage ended belongs to it (a post sent into the outage whose
// timeout or 5xx came back late): it is released as the outage's were.
const RECOVERY_WINDOW_MS = 30_000;

// The turn to probe: taken when free, kept by the worker holding it, whose next tick would otherwise find
// its own mark (a mark refused even to its holder made one worker probe every other interval). Taken, the
// mark outlasts the probe's call, which may wait for Slack's answer up to SLACK_CALL_TIMEOUT_MS: while
// Slack does not answer, no other worker asks too. Once the call is over, the mark lasts only until the
// holder's next tick (half an interval to spare), so a worker that died is replaced within the next
// worker's tick after that; one that stops hands the turn over once its call, if any, is over.
const TURN_MS = SLACK_CALL_TIMEOUT_MS + PROBE_EVERY_MS;
const TURN_AFTER_CALL_MS = Math.round(PROBE_EVERY_MS * 1.5);
const TAKE_TURN = `
local holder = redis.call('GET', KEYS[1])
if holder and holder ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;
// The holder's turn, kept ARGV[2] ms more, or given up with 0.
const KEEP_TURN = `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
if ARGV[2] == '0' then return redis.call('DEL', KEYS[1]) end
return redis.call('PEXPIRE', KEYS[1], ARGV[2])
`;

// Slack answered the probe: the outage it saw (if any) is over, and the failures reported before it asked
// are cleared; a failure reported meanwhile keeps the mark for the next probe. Returns 1 when the syncs
// backing off should be released: an outage just ended, or ended within the recovery window.
const ANSWERED = `
local ended = redis.call('DEL', KEYS[2])
if ended == 1 then redis.call('SET', KEYS[3], '1', 'PX', ARGV[2]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return redis.call('EXISTS', KEYS[3])
`;

/**
 * Catch-up after a Slack outage, whatever its length. Syncs that fail back off up to 5 minutes; while
 * any has failed because Slack is unavailable, one worker across the deployment (a Redis lock) calls
 * auth.test every PROBE_EVERY_MS, and when Slack answers after the probe itself saw it fail, it releases
 * the syncs backing off from that failure at once rather than leave Slack stale until their backoff
 * ends (and, for RECOVERY_WINDOW_MS after, those whose failure in the outage was reported late). Syncs
 * waiting on purpose (a Retry-After, a post's outcome, the next reconcile) keep their time.
 * A probe answered at once means no outage (one method failing, or one message Slack cannot take): the
 * syncs keep their backoff, or the failing one would be retried every interval.
 */
export class SlackProbe {
  private timer?: NodeJS.Timeout;
  private probing = false;
  private readonly id = randomUUID();

  constructor(
    private readonly deps: {
      redis: Redis;
      prefix: string;
      slack: SlackApi;
      queue: Queue<SlackSyncJob>;
      logger: Logger;
    },
  ) {}

  /** The sync `jobId` failed with SlackUnavailableError: probe until Slack answers, then release it. */
  async slackFailed(jobId: string): Promise<void> {
    // A count, not a flag: a probe clears only the failures it saw, never one reported while it asked.
    await this.deps.redis
      .multi()
      .incr(this.key('down'))
      .pexpire(this.key('down'), DOWN_MARK_MS)
      .sadd(this.key('backing-off'), jobId)
      .pexpire(this.key('backing-off'), DOWN_MARK_MS)
      .exec();
  }

  /** The sync `jobId`, which had failed before, ended otherwise: done, waiting on purpose, or refused. */
  async settled(jobId: string): Promise<void> {
    await this.deps.redis.srem(this.key('backing-off'), jobId);
  }

  start(): void {
    this.timer ??= setInterval(() => void this.probe(), PROBE_EVERY_MS);
    this.timer.unref();
  }

  /** Stops probing and gives up the turn if it holds it (a probe under way gives it up as it ends). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    if (!this.probing) await this.keepTurn(0).catch(() => {});
  }

  private async probe(): Promise<void> {
    if (this.probing) return;
    this.probing = true;
    try {
      const { redis } = this.deps;
      const failures = await redis.get(this.key('down'));
      if (!failures) return;
      // One probe per interval for the whole deployment: Slack should not hear from every replica.
      const turn = await redis.eval(TAKE_TURN, 1, this.key('probe'), this.id, TURN_MS);
      if (Number(turn) !== 1) return;
      const answered = await this.deps.slack.identity().then(
        () => true,
        () => false,
      );
      await this.keepTurn(TURN_AFTER_CALL_MS);
      if (!answered) {
        // Down (or rate limited): the next probe asks again, and its answer ends an outage.
        await redis.set(this.key('outage'), '1', 'PX', DOWN_MARK_MS);
        return;
      }
      const release = await redis.eval(
        ANSWERED,
        3,
        this.key('down'),
        this.key('outage'),
        this.key('recovered'),
        failures,
        RECOVERY_WINDOW_MS,
      );
      if (Number(release) !== 1) return;
      this.deps.logger.info(
        { released: await this.release() },
        'Slack answers again; released the waiting syncs',
      );
    } catch (err) {
      this.deps.logger.warn({ err }, 'Slack probe failed');
    } finally {
      // Stopped meanwhile: the turn it may have taken, or kept, is given up now that its call is over.
      if (!this.timer) await this.keepTurn(0).catch(() => {});
      this.probing = false;
    }
  }

  /** Promotes the syncs backing off from Slack's failure; one still running is released by its own retry. */
  private async release(): Promise<number> {
    let released = 0;
    for (const jobId of await this.deps.redis.smembers(this.key('backing-off'))) {
      const job = await this.deps.queue.getJob(jobId);
      if (!job || !(await job.isDelayed())) continue;
      // It may have been taken up between the two reads: then there is nothing left to release.
      await job.promote().then(
        () => released++,
        () => {},
      );
    }
    return released;
  }

  private async keepTurn(ms: number): Promise<void> {
    await this.deps.redis.eval(KEEP_TURN, 1, this.key('probe'), this.id, ms);
  }

  private key(name: string): string {
    return `${this.deps.prefix}:slack-probe:${name}`;
  }
}
