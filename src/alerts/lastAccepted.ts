/** Groups remembered at most: past that, the one accepted longest ago is forgotten. */
export const LAST_ACCEPTED_GROUPS = 10_000;
/**
 * A longer group key is not remembered (its deliveries are always read, and their bodies parsed): this map
 * and RecentBodies each stay under 25 MB.
 */
export const MAX_REMEMBERED_KEY = 1024;

/**
 * The digest of the last delivery this process accepted for each group (the most recent groups only).
 * A delivery whose digest differs from its group's is news: it is stored without asking the database
 * whether the group's incident already shows it, a round trip that only a repeat needs. A repeat taken
 * for news (another replica accepted it first, say) costs a stored row: ingesting it finds that the
 * incident shows it, or showed it until someone resolved the incident after it came, and changes nothing.
 */
export class LastAccepted {
  private readonly digests = new Map<string, string>();

  constructor(private readonly maxGroups = LAST_ACCEPTED_GROUPS) {}

  /** Whether the group's incident may already show `digest`: what this process last accepted, or unknown. */
  mayBeShown(groupKey: string, digest: string): boolean {
    const last = this.digests.get(groupKey);
    return last === undefined || last === digest;
  }

  accepted(groupKey: string, digest: string): void {
    if (groupKey.length > MAX_REMEMBERED_KEY) return;
    // Set again, last: a Map keeps the order keys were set in, so the first is the least recent.
    this.digests.delete(groupKey);
    this.digests.set(groupKey, digest);
    if (this.digests.size > this.maxGroups) this.digests.delete(this.digests.keys().next().value!);
  }
}
