import type { Hearer } from './changeNotifications.js';

/**
 * One read's result, kept in memory and given again until PostgreSQL tells of a change that may alter it
 * (a notification on `channel`, from a trigger, whichever process made the change: see hearChanges).
 *
 * Only as good as what it hears: while nothing is heard (not yet listening, the line lost or unproved),
 * nothing is kept and every read goes to PostgreSQL. A read begun before a change was heard, or before the
 * line was proved, is given to whoever asked but not kept: it may be of before the change. While changes
 * are heard, reads asked for while one is on its way, with no change heard since it began, share it.
 * What is left is the time a change takes to be heard, a few milliseconds, in which the read is answered
 * as of just before it, as a read sent just before the change is.
 */
export class KeptRead<T> implements Hearer {
  private kept: { value: T } | undefined;
  /** Counts the changes heard, the line lost and the line proved: a read begun before one is not kept. */
  private changes = 0;
  private reading: { since: number; value: Promise<T> } | undefined;
  private listening = false;

  constructor(
    readonly channel: string,
    readonly whileHeard: string,
    readonly whileUnheard: string,
  ) {}

  /** What `load` returns, from memory while nothing it reads has changed since it was read. */
  read(load: () => Promise<T>): Promise<T> {
    if (this.kept) return Promise.resolve(this.kept.value);
    if (this.listening && this.reading?.since === this.changes) return this.reading.value;
    const since = this.changes;
    const value = load();
    const reading = { since, value };
    this.reading = reading;
    value.then(
      (read) => {
        if (this.reading === reading) this.reading = undefined;
        if (this.listening && since === this.changes) this.kept = { value: read };
      },
      () => {
        if (this.reading === reading) this.reading = undefined;
      },
    );
    return value;
  }

  /** Whatever the notification says, what was read may have changed. */
  told(): void {
    this.changes += 1;
    this.kept = undefined;
  }

  heard(): void {
    if (this.listening) return;
    this.listening = true;
    this.told();
  }

  lost(): void {
    this.listening = false;
    this.told();
  }
}
