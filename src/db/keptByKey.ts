/**
 * Values read from PostgreSQL, by key, kept in memory only while changes to them are heard (see
 * hearChanges) and forgotten as each is heard: the bookkeeping every hearer that keeps reads shares.
 *
 * A read is kept only if no change of its key was heard since it began (`readBegins`), nor changes lost
 * or heard again: it may be of before the change. Reads asked for while one of the same key is on its way,
 * with no change of that key heard since it began, share it. At most `maxKeys` are kept, the one read or
 * kept longest ago dropped first.
 */
export class KeptByKey<K, V> {
  /** By key, the one read or kept longest ago first (a Map keeps the order keys were set in). */
  private readonly kept = new Map<K, V>();
  /** Counts the changes heard, lost and heard again: what a read's `since` is taken from. */
  private changes = 0;
  /** The count at each key's last change heard: a read of it begun before is not kept. */
  private readonly changedAt = new Map<K, number>();
  /** The count when every key last changed (line lost or proved, a table emptied) or changedAt filled. */
  private allChangedAt = 0;
  private readonly reading = new Map<K, { since: number; value: Promise<V> }>();
  private listening = false;

  constructor(private readonly maxKeys: number) {}

  /** The value kept for `key`, if any. */
  get(key: K): V | undefined {
    return this.kept.get(key);
  }

  /**
   * What `load` returns for `key`: kept, shared with a read on its way, or read and then kept. A kept value
   * `fresh` says is past its time (one that time alone changes) is read again.
   */
  read(key: K, load: () => Promise<V>, fresh: (kept: V) => boolean = () => true): Promise<V> {
    if (this.kept.has(key)) {
      const kept = this.kept.get(key)!;
      if (fresh(kept)) {
        // Set again, last: the keys asked for often are the last to be dropped.
        this.kept.delete(key);
        this.kept.set(key, kept);
        return Promise.resolve(kept);
      }
    }
    const onItsWay = this.reading.get(key);
    if (onItsWay && this.listening && !this.changedSince(key, onItsWay.since)) return onItsWay.value;
    const since = this.readBegins();
    const value = load();
    const reading = { since, value };
    this.reading.set(key, reading);
    const done = () => {
      if (this.reading.get(key) === reading) this.reading.delete(key);
    };
    value.then((read) => {
      done();
      this.keep(since, key, read);
    }, done);
    return value;
  }

  /** Taken as a read begins, and given back with what it found (keep). */
  readBegins(): number {
    return this.changes;
  }

  /** A read begun at `since` found `value` for `key`: kept, unless it may be of before a change. */
  keep(since: number, key: K, value: V): void {
    if (!this.listening || this.changedSince(key, since)) return;
    this.kept.delete(key);
    this.kept.set(key, value);
    if (this.kept.size > this.maxKeys) this.kept.delete(this.kept.keys().next().value!);
  }

  /** What is kept for `key` is no longer right, as this process knows first (it made the change). */
  forget(key: K): void {
    this.kept.delete(key);
  }

  /** These keys' values may have changed (a change named them). */
  changed(keys: Iterable<K>): void {
    this.changes += 1;
    for (const key of keys) {
      this.kept.delete(key);
      this.changedAt.delete(key);
      this.changedAt.set(key, this.changes);
    }
    // Past its most, read as a change of every key by the reads begun before: refusing more, never fewer.
    // What is kept stays: each key changed was forgotten as it was heard.
    if (this.changedAt.size > this.maxKeys) {
      this.allChangedAt = this.changes;
      this.changedAt.clear();
    }
  }

  /** Every key's value may have changed: a table emptied, or a change that names none. */
  changedAll(): void {
    this.changes += 1;
    this.allChangedAt = this.changes;
    this.changedAt.clear();
    this.kept.clear();
  }

  /**
   * Changes are heard from now on (a read of them answered). A read begun before may be of a change made while
   * none was heard: it is not kept.
   */
  heard(): void {
    if (this.listening) return;
    this.listening = true;
    this.changedAll();
  }

  /** Changes may go unheard: everything is forgotten, and nothing kept until heard() again. */
  lost(): void {
    this.listening = false;
    this.changedAll();
  }

  private changedSince(key: K, since: number): boolean {
    return Math.max(this.allChangedAt, this.changedAt.get(key) ?? 0) > since;
  }
}
