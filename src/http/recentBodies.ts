import { createHash } from 'node:crypto';
import type { Delivery } from '../alerts/deliveries.js';
import { MAX_REMEMBERED_KEY } from '../alerts/lastAccepted.js';

/** What a notification body came to: its group and its digest (deliveryDigest). */
export type KnownBody = Omit<Delivery, 'payload'>;

/** Bodies remembered at most: past that, the one received longest ago is forgotten. */
export const RECENT_BODIES = 10_000;
/**
 * Bodies of one group remembered at most, the last received: each peer of an HA cluster of Alertmanagers
 * (three, as kube-prometheus runs them) sends its own bytes (its externalURL). A group's older bodies, of
 * what it said before, would not be repeats of what it says.
 */
export const RECENT_BODIES_PER_GROUP = 3;

/**
 * The notification bodies this process received lately and accepted whole, by the SHA-256 of their bytes.
 * Most deliveries are repeats, and each Alertmanager peer sends a repeat of a notification (its
 * repeat_interval, a retry) as the same bytes, unless an alert's annotations changed (a rule's
 * `{{ $value }}`): one known here needs neither JSON.parse, nor validation, nor its digest, about a fifth
 * of what the webhook's thread spent on a repeat. What a body comes to depends on its bytes alone while the
 * process runs (its config is read once, and a body holding the heartbeat is not remembered), so a body
 * parsed once is known by them.
 */
export class RecentBodies {
  /** In the order they were received, the first received longest ago. */
  private readonly bodies = new Map<string, KnownBody>();
  /** Each group's bodies' keys, in the same order. */
  private readonly groups = new Map<string, string[]>();

  constructor(
    private readonly maxBodies = RECENT_BODIES,
    private readonly perGroup = RECENT_BODIES_PER_GROUP,
  ) {}

  /** The key a body is known by. */
  static keyOf(body: Buffer): string {
    return createHash('sha256').update(body).digest('base64');
  }

  /** What the body came to, if it is remembered; it then counts as the one received last. */
  get(key: string): KnownBody | undefined {
    const known = this.bodies.get(key);
    if (known) {
      // Set again, last: a Map keeps the order keys were set in.
      this.bodies.delete(key);
      this.bodies.set(key, known);
      const keys = this.groups.get(known.groupKey)!;
      keys.push(...keys.splice(keys.indexOf(key), 1));
    }
    return known;
  }

  /** Remembers a body, as its group and digest only (a Delivery given holds its payload). */
  remember(key: string, { groupKey, digest }: KnownBody): void {
    if (groupKey.length > MAX_REMEMBERED_KEY || this.get(key)) return;
    const keys = this.groups.get(groupKey) ?? [];
    // One string for the group's key, however many bodies (each parsed into a copy of its own) hold it.
    const shared = keys.length > 0 ? this.bodies.get(keys[0]!)!.groupKey : groupKey;
    if (keys.length === 0) this.groups.set(shared, keys);
    this.bodies.set(key, { groupKey: shared, digest });
    keys.push(key);
    if (keys.length > this.perGroup) this.forget(keys[0]!);
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
