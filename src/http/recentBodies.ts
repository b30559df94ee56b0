import { createHash } from 'node:crypto';
import { LAST_ACCEPTED_GROUPS, MAX_REMEMBERED_KEY } from '../alerts/lastAccepted.js';

/** What a notification body came to: its group and its digest (deliveryDigest). */
export interface BodyRead {
  groupKey: string;
  digest: string;
}

/**
 * The notification bodies this process read lately, by the SHA-256 of their bytes. Most deliveries are
 * repeats, and Alertmanager sends a repeat of a notification (its repeat_interval, a retry) as the same
 * bytes, unless an alert's annotations changed (a rule's `{{ $value }}`): one known here needs neither JSON.parse, nor validation, nor its digest, which were a third of
 * what the webhook's thread spent on a repeat. What a body's bytes come to depends on nothing else, so a
 * body read once is known for as long as it is remembered.
 */
export class RecentBodies {
  private readonly bodies = new Map<string, BodyRead>();

  constructor(private readonly maxBodies = LAST_ACCEPTED_GROUPS) {}

  /** The key a body is known by. */
  static keyOf(body: Buffer): string {
    return createHash('sha256').update(body).digest('base64');
  }

  /** What the body was read as, if it is remembered; it is then the one read last. */
  get(key: string): BodyRead | undefined {
    const read = this.bodies.get(key);
    if (read) this.remember(key, read);
    return read;
  }

  remember(key: string, { groupKey, digest }: BodyRead): void {
    if (groupKey.length > MAX_REMEMBERED_KEY) return;
    // Set again, last: a Map keeps the order keys were set in, so the first is the one read longest ago.
    this.bodies.delete(key);
    this.bodies.set(key, { groupKey, digest });
    if (this.bodies.size > this.maxBodies) this.bodies.delete(this.bodies.keys().next().value!);
  }
}
