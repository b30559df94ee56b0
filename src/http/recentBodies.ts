import { createHash } from 'node:crypto';
import type { Delivery } from '../alerts/deliveries.js';
import { MAX_REMEMBERED_KEY } from '../alerts/lastAccepted.js';

/** What a notification body came to: its group and its digest (deliveryDigest). */
export type BodyRead = Omit<Delivery, 'payload'>;

/** Bodies remembered at most, */
export const RECENT_BODIES = 10_000;
/**
 * and at most this many of a group, the last read: each Alertmanager peer of an HA pair sends its own bytes
 * (its externalURL). A group's older bodies, of what it said before, would not be repeats of what it says.
 */
export const RECENT_BODIES_PER_GROUP = 2;

/**
 * The notification bodies this process read lately, by the SHA-256 of their bytes. Most deliveries are
 * repeats, and each Alertmanager peer sends a repeat of a notification (its repeat_interval, a retry) as
 * the same bytes, unless an alert's annotations changed (a rule's `{{ $value }}`): one known here needs
 * neither JSON.parse, nor validation, nor its digest, about a fifth of what the webhook's thread spent on a
 * repeat. What a body comes to depends on its bytes alone while the process runs (its config is read
 * once, and a body holding the heartbeat is not remembered), so a body read once is known by them.
 */
export class RecentBodies {
  /** In the order they were read, the first read longest ago. */
  private readonly bodies = new Map<string, BodyRead>();
  /** Each group's bodies' keys, the first read longest ago. */
  private readonly groups = new Map<string, string[]>();

  constructor(
    private readonly maxBodies = RECENT_BODIES,
    private readonly perGroup = RECENT_BODIES_PER_GROUP,
  ) {}

  /** The key a body is known by. */
  static keyOf(body: Buffer): string {
    return createHash('sha256').update(body).digest('base64');
  }

  /** What the body was read as, if it is remembered; it is then the one read last. */
  get(key: string): BodyRead | undefined {
    const read = this.bodies.get(key);
    if (read) {
      // Set again, last: a Map keeps the order keys were set in.
      this.bodies.delete(key);
      this.bodies.set(key, read);
      const keys = this.groups.get(read.groupKey)!;
      keys.push(...keys.splice(keys.indexOf(key), 1));
    }
    return read;
  }

  /** Remembers a body read, as its group and digest only (a Delivery given holds its payload). */
  remember(key: string, { groupKey, digest }: BodyRead): void {
    if (groupKey.length > MAX_REMEMBERED_KEY || this.get(key)) return;
    this.bodies.set(key, { groupKey, digest });
    const keys = this.groups.get(groupKey);
    if (keys) keys.push(key);
    else this.groups.set(groupKey, [key]);
    if (keys && keys.length > this.perGroup) this.forget(keys[0]!);
    if (this.bodies.size > this.maxBodies) this.forget(this.bodies.keys().next().value!);
  }

  private forget(key: string): void {
    const { groupKey } = this.bodies.get(key)!;
    this.bodies.delete(key);
    const keys = this.groups.get(groupKey)!;
    keys.splice(keys.indexOf(key), 1);
    if (keys.length === 0) this.groups.delete(groupKey);
  }
}
