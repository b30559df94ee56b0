import type { Hearer } from './changes.js';
import { KeptByKey } from './keptByKey.js';

/**
 * Reads kept in memory, by key, and given again until PostgreSQL tells of a change that may alter them
 * (a change on `channel`, written by a trigger, whichever process made it: see hearChanges). A change's
 * payload names the key changed; an empty one, every key (a table emptied).
 *
 * Only as good as what it hears: while nothing is heard (not yet read, or a read failed), nothing is kept
 * and every read goes to PostgreSQL. A read begun before a change of its key was heard, or before changes
 * were heard again, is given to whoever asked but not kept: it may be of before the change.
 * While changes are heard, reads of a key asked for while one is on its way share it. What is left is the
 * time a change takes to be heard, up to a tenth of a second, in which the read is answered as of just
 * before it, as a read sent just before the change is. A failed read is not kept.
 *
 * This base holds what both kinds share: what is kept, forgotten on heard and lost, and the log's words.
 */
abstract class KeptHearer<T> implements Hearer {
  protected readonly kept: KeptByKey<string, T>;

  constructor(
    readonly channel: string,
    readonly whileHeard: string,
    readonly whileUnheard: string,
    maxKeys: number,
  ) {
    this.kept = new KeptByKey(maxKeys);
  }

  abstract told(payload: string): void;

  heard(): void {
    this.kept.heard();
  }

  lost(): void {
    this.kept.lost();
  }
}

/** Reads by key: a change's payload names the key changed; an empty one, every key. */
export class KeptReadsByKey<T> extends KeptHearer<T> {
  /**
   * What `load` returns for `key`, from memory while nothing it reads has changed since it was read and
   * `fresh` says it is not past its time.
   */
  read(key: string, load: () => Promise<T>, fresh?: (kept: T) => boolean): Promise<T> {
    return this.kept.read(key, load, fresh);
  }

  told(payload: string): void {
    if (payload) this.kept.changed([payload]);
    else this.kept.changedAll();
  }
}

/** One read (a list): whatever a change on its channel says, it may have changed. */
export class KeptRead<T> extends KeptHearer<T> {
  constructor(channel: string, whileHeard: string, whileUnheard: string) {
    super(channel, whileHeard, whileUnheard, 1);
  }

  /** What `load` returns, from memory while nothing it reads has changed since it was read. */
  read(load: () => Promise<T>): Promise<T> {
    return this.kept.read('', load);
  }

  told(): void {
    this.kept.changedAll();
  }
}
