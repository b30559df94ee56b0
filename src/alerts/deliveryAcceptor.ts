import type pg from 'pg';
import { CONNECTION_TIMEOUT_MS } from '../db/pool.js';
import { type Accepted, acceptDeliveries, isDataException } from './deliveries.js';
import type { WebhookPayload } from './payload.js';

/** Deliveries one statement takes at most. */
export const MAX_ACCEPT_BATCH = 64;

interface Waiting {
  payload: WebhookPayload;
  timer: NodeJS.Timeout;
  resolve: (accepted: Accepted) => void;
  reject: (err: unknown) => void;
}

/** A delivery waited longer than a pool's client would be waited for: the database is not keeping up. */
export class AcceptWaitedTooLong extends Error {
  constructor(waitedMs: number) {
    super(`the delivery waited ${waitedMs} ms for the database to take it`);
    this.name = 'AcceptWaitedTooLong';
  }
}

/**
 * Accepts the webhook's deliveries one statement at a time: those arriving while a statement runs wait,
 * and the next statement takes them together, one per group (a group's second waits for the statement
 * after, so that it is judged after the one before it). At a trickle a delivery goes alone and at once;
 * in a burst, one statement's planning, round trip and commit serve many, and those are most of what a
 * delivery costs the bot's thread and PostgreSQL. (Two or four statements at once, tried, made smaller
 * batches and slower answers.)
 */
export class DeliveryAcceptor {
  private readonly waiting: Waiting[] = [];
  private running = false;

  constructor(private readonly pool: pg.Pool) {}

  accept(payload: WebhookPayload): Promise<Accepted> {
    return new Promise((resolve, reject) => {
      // A statement that does not come back holds up the deliveries behind it: they answer 503 (which
      // Alertmanager retries) as they would had they waited for a client of the pool.
      const timer = setTimeout(() => {
        this.waiting.splice(this.waiting.indexOf(waiting), 1);
        reject(new AcceptWaitedTooLong(CONNECTION_TIMEOUT_MS));
      }, CONNECTION_TIMEOUT_MS);
      const waiting: Waiting = { payload, timer, resolve, reject };
      this.waiting.push(waiting);
      this.next();
    });
  }

  private next(): void {
    if (this.running || this.waiting.length === 0) return;
    this.running = true;
    void this.run(this.take()).finally(() => {
      this.running = false;
      this.next();
    });
  }

  /** The oldest waiting delivery of each group, up to MAX_ACCEPT_BATCH. */
  private take(): Waiting[] {
    const batch: Waiting[] = [];
    const groups = new Set<string>();
    const left: Waiting[] = [];
    for (const waiting of this.waiting) {
      if (batch.length < MAX_ACCEPT_BATCH && !groups.has(waiting.payload.groupKey)) {
        clearTimeout(waiting.timer);
        groups.add(waiting.payload.groupKey);
        batch.push(waiting);
      } else left.push(waiting);
    }
    this.waiting.splice(0, this.waiting.length, ...left);
    return batch;
  }

  private async run(batch: Waiting[]): Promise<void> {
    try {
      const accepted = await acceptDeliveries(
        this.pool,
        batch.map((w) => w.payload),
      );
      for (const [i, w] of batch.entries()) w.resolve(accepted[i]!);
    } catch (err) {
      if (batch.length === 1 || !isDataException(err)) {
        for (const w of batch) w.reject(err);
        return;
      }
      // One payload PostgreSQL refuses (a 400, which Alertmanager drops for good) must not refuse the
      // others with it: each is tried alone.
      for (const w of batch)
        await acceptDeliveries(this.pool, [w.payload]).then(([a]) => w.resolve(a!), w.reject);
    }
  }
}
