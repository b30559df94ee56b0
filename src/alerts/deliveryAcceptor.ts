import type pg from 'pg';
import { isTransientDbError } from '../db/pool.js';
import { type Accepted, acceptDeliveries, type Delivery } from './deliveries.js';
import { LastAccepted } from './lastAccepted.js';
import type { ShownDigests } from './shownDigests.js';

/** Deliveries one batch takes at most. */
export const MAX_ACCEPT_BATCH = 64;
/** The bytes of a batch's bodies at most, as one parameter holds their payloads; a larger body goes alone. */
export const MAX_ACCEPT_BATCH_BYTES = 4 * 1024 * 1024;
/**
 * How long a delivery waits for its batch to start: room for a statement left unanswered before it (the
 * webhook pool's query timeout) and another. Longer, the database is not keeping up: 503, retried later.
 */
export const ACCEPT_WAIT_MS = 10_000;

interface Waiting {
  delivery: Delivery;
  bytes: number;
  timer: NodeJS.Timeout;
  resolve: (accepted: Accepted) => void;
  reject: (err: unknown) => void;
}

/** A delivery waited its longest (ACCEPT_WAIT_MS) for the database to take it. */
export class AcceptWaitedTooLong extends Error {
  constructor(waitedMs: number) {
    super(`the delivery waited ${waitedMs} ms for the database to take it`);
    this.name = 'AcceptWaitedTooLong';
  }
}

/**
 * Accepts the webhook's deliveries one batch at a time (see acceptDeliveries): those arriving while a
 * batch runs wait, and the next takes them together, one per group (a group's second waits for the batch
 * after, so that it is judged after the one before it). At a trickle a delivery goes alone and at once;
 * in a burst, a batch's planning, round trips and commit serve many, and those are most of what a delivery
 * costs the bot's thread and PostgreSQL. (Two or four batches at once, tried, made smaller batches and
 * slower answers.)
 */
export class DeliveryAcceptor {
  private readonly waiting: Waiting[] = [];
  private running = false;
  private readonly lastAccepted = new LastAccepted();
  /** Deliveries of each group waiting or in the running batch. */
  private readonly pending = new Map<string, number>();

  private readonly shown?: ShownDigests;
  private readonly waitMs: number;

  /**
   * `shown`: what groups' open incidents show, kept right by PostgreSQL (see hearChanges); a repeat
   * of it is answered at once, unless a delivery of its group is still being accepted here (the repeat
   * may be of what the group said before it). `waitMs`: ACCEPT_WAIT_MS unless a test says otherwise.
   */
  constructor(
    private readonly pool: pg.Pool,
    options: { shown?: ShownDigests; waitMs?: number } = {},
  ) {
    this.shown = options.shown;
    this.waitMs = options.waitMs ?? ACCEPT_WAIT_MS;
  }

  /** `bytes`: the size of the body it came in. */
  accept(delivery: Delivery, bytes: number): Promise<Accepted> {
    const { groupKey, digest } = delivery;
    const incidentId = this.pending.has(groupKey) ? undefined : this.shown?.incidentShowing(groupKey, digest);
    if (incidentId !== undefined) return Promise.resolve({ outcome: 'duplicate', incidentId });
    this.pending.set(groupKey, (this.pending.get(groupKey) ?? 0) + 1);
    return new Promise<Accepted>((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.waiting.indexOf(waiting);
        if (at >= 0) this.waiting.splice(at, 1);
        reject(new AcceptWaitedTooLong(this.waitMs));
      }, this.waitMs);
      const waiting: Waiting = { delivery, bytes, timer, resolve, reject };
      this.waiting.push(waiting);
      this.next();
    }).finally(() => {
      const left = this.pending.get(groupKey)! - 1;
      if (left === 0) this.pending.delete(groupKey);
      else this.pending.set(groupKey, left);
    });
  }

  private next(): void {
    if (this.running || this.waiting.length === 0) return;
    this.running = true;
    const batch = this.take();
    this.run(batch)
      .catch((err: unknown) => {
        for (const w of batch) w.reject(err);
      })
      .finally(() => {
        this.running = false;
        this.next();
      });
  }

  /** The oldest waiting delivery of each group, within the batch's limits. */
  private take(): Waiting[] {
    const batch: Waiting[] = [];
    const groups = new Set<string>();
    const left: Waiting[] = [];
    let bytes = 0;
    for (const waiting of this.waiting) {
      const fits =
        batch.length === 0 ||
        (batch.length < MAX_ACCEPT_BATCH && bytes + waiting.bytes <= MAX_ACCEPT_BATCH_BYTES);
      if (fits && !groups.has(waiting.delivery.groupKey)) {
        clearTimeout(waiting.timer);
        groups.add(waiting.delivery.groupKey);
        bytes += waiting.bytes;
        batch.push(waiting);
      } else left.push(waiting);
    }
    this.waiting.splice(0, this.waiting.length, ...left);
    return batch;
  }

  private async run(batch: Waiting[]): Promise<void> {
    const since = this.shown?.readBegins();
    const settle = (w: Waiting, accepted: Accepted) => {
      const { groupKey, digest } = w.delivery;
      if (accepted.outcome === 'duplicate') this.shown?.found(since!, groupKey, digest, accepted.incidentId);
      // Stored: its incident will show it, not what it shows now. Forgotten here at once; the rest are told.
      else this.shown?.forget(groupKey);
      w.resolve(accepted);
    };
    try {
      const accepted = await acceptDeliveries(
        this.pool,
        batch.map((w) => w.delivery),
        this.lastAccepted,
      );
      for (const [i, w] of batch.entries()) settle(w, accepted[i]!);
    } catch (err) {
      if (batch.length === 1 || isTransientDbError(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // What fails a batch for good may be one delivery's doing (a value PostgreSQL refuses, a 400 that
      // Alertmanager drops for good): each is tried alone, so that it does not fail the others.
      for (const w of batch)
        await acceptDeliveries(this.pool, [w.delivery], this.lastAccepted).then(
          ([a]) => settle(w, a!),
          w.reject,
        );
    }
  }
}
