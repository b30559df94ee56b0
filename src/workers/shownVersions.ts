import type { Redis } from 'ioredis';

const KEEP_SECONDS = 24 * 3600;

/**
 * The incident version each sync last showed in Slack, kept in Redis beside the sync queue. Every change
 * queues a sync job of its own, and a burst of changes queues many for one incident; the first to run
 * shows them all, and the rest end here without reading the database. Lost with Redis, or unreadable
 * for a moment, it only costs reads; the reconcile pass never trusts it.
 */
export class ShownVersions {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** True when a sync is known to have shown Slack this version of the incident, or a newer one. */
  async shows(incidentId: number, version: number): Promise<boolean> {
    const shown = await this.redis.get(this.key(incidentId)).catch(() => null);
    return shown !== null && Number(shown) >= version;
  }

  /**
   * After a sync that showed `version`. Syncs of one incident run one at a time, but two may record out
   * of order: the older then stands until the next, which costs a read, never a missed change.
   */
  async record(incidentId: number, version: number): Promise<void> {
    // The sync is done either way: not recorded, the next job for this version reads.
    await this.redis.set(this.key(incidentId), version, 'EX', KEEP_SECONDS).catch(() => {});
  }

  private key(incidentId: number): string {
    return `${this.prefix}:slack-shown:incident:${incidentId}`;
  }
}
