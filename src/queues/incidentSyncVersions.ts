import type { Redis } from 'ioredis';
import { redisScript } from './redisScript.js';

const KEEP_SECONDS = 24 * 3600;

// Keeps the larger of the version held and the one given: jobs may be queued out of order.
const KEEP_NEWEST = `local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > held then redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2]) end`;

/**
 * Beside the Slack sync queue, per incident: the newest version a sync job was queued for, and the
 * version a sync last showed in Slack. Every change queues a sync job of its own, so a burst of changes
 * queues many for one incident, and only the newest needs to read: it shows them all. The others end
 * here without the database. Lost with Redis, or unreadable for a moment, this only costs reads; the
 * reconcile pass never trusts it.
 */
export class IncidentSyncVersions {
  private readonly keepNewest;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.keepNewest = redisScript(redis, 'incidentSyncKeepNewest', 1, KEEP_NEWEST);
  }

  /** After a job for `version` was queued (never before: a job it stands for must exist). */
  async queued(incidentId: number, version: number): Promise<void> {
    await this.keepNewest(this.key('queued', incidentId), version, KEEP_SECONDS).catch(() => {});
  }

  /**
   * After a sync that showed `version`. Syncs of one incident run one at a time, but two may record out
   * of order: the older then stands until the next, which costs a read, never a missed change.
   */
  async shown(incidentId: number, version: number): Promise<void> {
    // The sync is done either way: not recorded, the next job for this version reads.
    await this.redis.set(this.key('shown', incidentId), version, 'EX', KEEP_SECONDS).catch(() => {});
  }

  /**
   * Slack no longer shows the incident's root where it did: nothing it showed stands. A sync that ended just
   * before may still record its version after this; its next job then waits for chat.update's turn once.
   */
  async forget(incidentId: number): Promise<void> {
    // Not forgotten, the next sync waits for chat.update's turn before it posts: a delay, never a loss.
    await this.redis.del(this.key('shown', incidentId)).catch(() => {});
  }

  /**
   * Where Slack stands beside a job for `version`: 'shown' (this version or a newer one) or 'newer queued'
   * (a job for a newer version will read what this one would) leave it nothing to do; 'older shown' means
   * it must read, and its root exists and is behind. Undefined when it must read and nothing is known.
   */
  async compare(
    incidentId: number,
    version: number,
  ): Promise<'shown' | 'newer queued' | 'older shown' | undefined> {
    const [shown, queued] = await this.redis
      .mget(this.key('shown', incidentId), this.key('queued', incidentId))
      .catch(() => [null, null]);
    if (shown != null && Number(shown) >= version) return 'shown';
    if (queued != null && Number(queued) > version) return 'newer queued';
    return shown != null ? 'older shown' : undefined;
  }

  private key(what: 'shown' | 'queued', incidentId: number): string {
    return `${this.prefix}:slack-${what}:incident:${incidentId}`;
  }
}
