import type { Hearer } from '../db/changes.js';
import { KeptByKey } from '../db/keptByKey.js';
import { LAST_ACCEPTED_GROUPS, MAX_REMEMBERED_KEY } from './lastAccepted.js';

/**
 * Where PostgreSQL tells of groups whose repeat may be news (migrations 024 and 041). A change's payload
 * is JSON: an array of group keys, or null for every group.
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
 * (not yet read, or a read failed), nothing is remembered and every repeat is read, as it was before. A
 * read of a group begun before a change of it was heard, or before changes were heard again, is not
 * remembered: it may be of before the change.
 * What is left is the time a change takes to be heard, up to a tenth of a second, in which a repeat is
 * answered as of just before it: as a read sent just before the change is.
 */
export class ShownDigests implements Hearer {
  readonly channel = GROUP_CHANGES_CHANNEL;
  readonly whileHeard = 'repeats shown are answered from memory';
  readonly whileUnheard = 'every repeat is read';
  private readonly shown: KeptByKey<string, Shown>;

  constructor(maxGroups = LAST_ACCEPTED_GROUPS) {
    this.shown = new KeptByKey(maxGroups);
  }

  /** The open incident of the group, if it is known to show `digest`. */
  incidentShowing(groupKey: string, digest: string): number | undefined {
    const shown = this.shown.get(groupKey);
    return shown?.digest === digest ? shown.incidentId : undefined;
  }

  /** Taken as a read begins, and given back with what it found (found). */
  readBegins(): number {
    return this.shown.readBegins();
  }

  /** A read begun at `since` found that the group's open incident shows `digest`. */
  found(since: number, groupKey: string, digest: string, incidentId: number): void {
    if (groupKey.length <= MAX_REMEMBERED_KEY) this.shown.keep(since, groupKey, { digest, incidentId });
  }

  /** A repeat of the group may be news from now on, as this process knows first (it stored a delivery). */
  forget(groupKey: string): void {
    this.shown.forget(groupKey);
  }

  /** A change on GROUP_CHANGES_CHANNEL. */
  told(payload: string): void {
    let said: unknown;
    try {
      said = JSON.parse(payload);
    } catch {
      said = null;
    }
    if (Array.isArray(said)) this.shown.changed(said.filter((key) => typeof key === 'string'));
    // null (a table emptied), or a payload this version does not know: every group, to be safe.
    else this.shown.changedAll();
  }

  heard(): void {
    this.shown.heard();
  }

  lost(): void {
    this.shown.lost();
  }
}
