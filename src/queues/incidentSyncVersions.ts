import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { incidentSyncJobId, type SlackSyncJob } from './queues.js';

const KEEP_SECONDS = 24 * 3600;

/**
 * Beside the Slack sync queue, per incident: the version a sync last showed in Slack. Every change (one
 * version more) queues a sync job of its own, so a burst of changes queues many for one incident, and
 * only the newest needs to read: it shows them all. A job whose version Slack shows, or whose next
 * version's job is still queued, ends here without the database. Lost with Redis, or unreadable for a
 * moment, this only costs reads; the reconcile pass never trusts it.
 */
export class IncidentSyncVersions {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly queue: Queue<SlackSyncJob>,
  ) {}

  /**
   * After a sync that showed `version`. Syncs of one incident run one at a time, but two may record out
   * of order: the older then stands until the next, which costs a read, never a missed change.
   */
  async shown(incidentId: number, version: number): Promise<void> {
    // The sync is done either way: not recorded, the next job for this version reads.
    await this.redis.set(this.shownKey(incidentId), version, 'EX', KEEP_SECONDS).catch(() => {});
  }

  /**
   * Slack no longer shows the incident's root where it did: nothing it showed stands. A sync that ended just
   * before may still record its version after this; its next job then waits for chat.update's turn once.
   */
  async forget(incidentId: number): Promise<void> {
    // Not forgotten, the next sync waits for chat.update's turn before it posts: a delay, never a loss.
    await this.redis.del(this.shownKey(incidentId)).catch(() => {});
  }

  /**
   * Where Slack stands beside a job for `version`: 'shown' (this version or a newer one) or 'newer queued'
   * (the next version's job will read what this one would) leave it nothing to do; 'older shown' means
   * it must read, and its root exists and is behind. Undefined when it must read and nothing is known.
   * The next version's job is looked for here, once, rather than the newest version queued recorded at
   * every change: that cost each change a round trip to Redis more while the person who made it waited.
   * A change whose job was never queued (Redis failed just after the commit) leaves the job before it to
   * read, as one with nothing known does.
   */
  async compare(
    incidentId: number,
    version: number,
  ): Promise<'shown' | 'newer queued' | 'older shown' | undefined> {
    const replies = await this.redis
      .pipeline()
      .get(this.shownKey(incidentId))
      .exists(this.queue.toKey(incidentSyncJobId(incidentId, version + 1)))
      .exec()
      .catch(() => null);
    const [shown, next] = (replies ?? [null, null]).map((reply) => (reply && !reply[0] ? reply[1] : null));
    if (shown != null && Number(shown) >= version) return 'shown';
    if (next === 1) return 'newer queued';
    return shown != null ? 'older shown' : undefined;
  }

  private shownKey(incidentId: number): string {
    return `${this.prefix}:slack-shown:incident:${incidentId}`;
  }
}
