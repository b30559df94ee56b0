import type { Hearer } from '../db/changeNotifications.js';
import { LAST_ACCEPTED_GROUPS, MAX_REMEMBERED_KEY } from './lastAccepted.js';

/**
 * Where PostgreSQL tells of groups whose repeat may be news (migrations/024_alert_group_changes.sql). A
 * notification's payload is JSON: an array of group keys, or null for every group.
 */
export const GROUP_CHANGES_CHANNEL = 'alert_groups_changed';

/** The open incident a group's repeat would be answered with, and the notification it shows. */
interface Shown {
  digest: string;
  incidentId: number;
}

/**
 * What each group's open incident shows (the digest of the notification it last took), as this process
 * last read it: a repeat of that is answered from here, with no round trip to PostgreSQL. Repeats are most
 * deliveries (Alertmanager's repeat_interval, each HA peer's copy), and reading for one cost the webhook
 * more than half of what it spent on it.
 *
 * Only as good as what it hears (see hearChanges): PostgreSQL tells every serving process of each
 * group whose repeat could be news from then on (a delivery of it stored by any process, its open incident
 * resolved or changed, by hand or by an ingest), and the group is forgotten. While nothing can be heard
 * (not yet listening, the line lost or unproved), nothing is remembered and every repeat is read, as it
 * was before. A read of a group begun before a change of it was heard, or before the line was proved, is
 * not remembered: it may be of before the change.
 * What is left is the time a change takes to be heard, a few milliseconds, in which a repeat is answered
 * as of just before it: as a read sent just before the change is.
 */
export class ShownDigests implements Hearer {
  readonly channel = GROUP_CHANGES_CHANNEL;
  readonly whileHeard = 'repeats shown are answered from memory';
  readonly whileUnheard = 'every repeat is read';
  /** By group, the one shown longest ago first. */
  private readonly shown = new Map<string, Shown>();
  /** Counts the changes heard, the line lost and the line proved: what a read's `since` is taken from. */
  private changes = 0;
  /** The count at each group's last change heard: a read of it begun before is not remembered. */
  private readonly changedAt = new Map<string, number>();
  /** The count when every group last changed (line lost or proved, table emptied) or changedAt filled. */
  private allChangedAt = 0;
  private listening = false;

  constructor(private readonly maxGroups = LAST_ACCEPTED_GROUPS) {}

  /** The open incident of the group, if it is known to show `digest`. */
  incidentShowing(groupKey: string, digest: string): number | undefined {
    const shown = this.shown.get(groupKey);
    return shown?.digest === digest ? shown.incidentId : undefined;
  }

  /** Taken as a read begins, and given back with what it found (found). */
  readBegins(): number {
    return this.changes;
  }

  /** A read begun at `since` found that the group's open incident shows `digest`. */
  found(since: number, groupKey: string, digest: string, incidentId: number): void {
    const changedAt = Math.max(this.allChangedAt, this.changedAt.get(groupKey) ?? 0);
    if (!this.listening || changedAt > since || groupKey.length > MAX_REMEMBERED_KEY) return;
    // Set again, last: a Map keeps the order keys were set in, so the first is the least recent.
    this.shown.delete(groupKey);
    this.shown.set(groupKey, { digest, incidentId });
    if (this.shown.size > this.maxGroups) this.shown.delete(this.shown.keys().next().value!);
  }

  /** A repeat of the group may be news from now on, as this process knows first (it stored a delivery). */
  forget(groupKey: string): void {
    this.shown.delete(groupKey);
  }

  /** A repeat of these groups may be news from now on. */
  changed(groupKeys: Iterable<string>): void {
    this.changes += 1;
    for (const groupKey of groupKeys) {
      this.shown.delete(groupKey);
      this.changedAt.delete(groupKey);
      this.changedAt.set(groupKey, this.changes);
    }
    // Past its most, read as a change of every group by the reads begun before: refusing more, never fewer.
    // What is remembered stays: each group changed was forgotten as it was heard.
    if (this.changedAt.size > this.maxGroups) {
      this.allChangedAt = this.changes;
      this.changedAt.clear();
    }
  }

  /** A notification on GROUP_CHANGES_CHANNEL. */
  told(payload: string | undefined): void {
    let said: unknown;
    try {
      said = JSON.parse(payload ?? '');
    } catch {
      said = null;
    }
    // A string: an older version's probe, sent here while both run (a rolling deploy); nothing changed.
    if (typeof said === 'string') return;
    if (Array.isArray(said)) this.changed(said.filter((key) => typeof key === 'string'));
    // null, or a payload this version does not know: every group, to be safe.
    else this.changedAll();
  }

  /** Any group's repeat may be news: a table emptied. */
  changedAll(): void {
    this.changes += 1;
    this.allChangedAt = this.changes;
    this.changedAt.clear();
    this.shown.clear();
  }

  /**
   * Changes are heard from now on (the line is proved). A read begun before may be of a change made while
   * none was heard: it is not remembered.
   */
  heard(): void {
    if (this.listening) return;
    this.listening = true;
    this.changedAll();
  }

  /** Changes may go unheard: everything is forgotten, and nothing remembered until heard() again. */
  lost(): void {
    this.listening = false;
    this.changedAll();
  }
}
