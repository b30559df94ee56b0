import pg, { escapeLiteral } from 'pg';
import { z } from 'zod';
import { discardClient, isDatabaseUnreachable } from '../db/pool.js';
import { shortReason } from '../primitives/errors.js';
import { type DeliveryResult, deliveryDigest, type IngestConfig, ingestDelivery } from './ingest.js';
import type { LastAccepted } from './lastAccepted.js';
import { parseWebhookPayload, type WebhookPayload } from './payload.js';

/**
 * Store first, ingest after: the webhook answers once a notification is stored (or known to be a repeat),
 * and the deliveries worker ingests what is stored, in order per group. Nothing accepted is lost: a crash
 * mid-ingest rolls back, and the delivery waits to be taken again.
 */

/**
 * A delivery that failed this often (other than for an unreachable database) is refused: tried again after
 * 1, 2, 4… s, then every 5 min, the last attempt comes about an hour after the first. A failure that lasts
 * (a failover's read-only primary, a deploy before its migration) delays the group, and does not drop it.
 */
export const MAX_INGEST_ATTEMPTS = 20;
const RETRY_CAP_SECONDS = 300;
/** Ingested deliveries are kept this long, with what came of them. */
const KEEP_INGESTED = '1 day';

/**
 * A notification to accept: its group, its digest (deliveryDigest), and its payload, made when it is stored
 * (a body known by its bytes is parsed again only then: see RecentBodies).
 */
export interface Delivery {
  groupKey: string;
  digest: string;
  payload: () => WebhookPayload;
}

export const deliveryOf = (payload: WebhookPayload): Delivery => ({
  groupKey: payload.groupKey,
  digest: deliveryDigest(payload),
  payload: () => payload,
});

export type Accepted =
  /** Nothing new: the open incident of the group already shows this notification. */
  | { outcome: 'duplicate'; incidentId: number }
  /** Stored, to be ingested. */
  | { outcome: 'accepted'; deliveryId: number };

/**
 * A batch of notifications, one per group (see DeliveryAcceptor), answered in the order given. A repeat
 * of what its group's open incident last took (and no delivery of the group waiting before it) is
 * answered as a duplicate, and nothing is written; anything else is stored. Most deliveries are repeats
 * (Alertmanager's repeat_interval, HA peers' copies): a batch of them costs one read, and their payloads
 * are neither serialised nor sent. With `lastAccepted`, only the deliveries it says may be repeats are
 * read (the rest are stored), and it then remembers the batch.
 */
export async function acceptDeliveries(
  pool: pg.Pool,
  deliveries: Delivery[],
  lastAccepted?: LastAccepted,
): Promise<Accepted[]> {
  // Two of a group would be judged in one snapshot: a repeat could hide the change before it.
  if (new Set(deliveries.map((d) => d.groupKey)).size !== deliveries.length)
    throw new Error('a batch of deliveries holds two of one group');
  const accepted: Array<Accepted | undefined> = deliveries.map(() => undefined);
  const asked = deliveries.flatMap((d, i) =>
    (lastAccepted?.mayBeShown(d.groupKey, d.digest) ?? true) ? [i] : [],
  );
  if (asked.length > 0) {
    const { rows: known } = await pool.query<{ n: number; incident_id: number }>({
      name: 'deliveries-known',
      text: `SELECT b.n::int AS n, i.id::int AS incident_id
               FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS b (group_key, digest, n)
               JOIN incidents i ON i.group_key = b.group_key AND i.state = 'open' AND i.last_delivery_digest = b.digest
              WHERE NOT EXISTS (SELECT 1 FROM alert_deliveries d WHERE d.group_key = b.group_key AND d.processed_at IS NULL)`,
      values: [asked.map((i) => deliveries[i]!.groupKey), asked.map((i) => deliveries[i]!.digest)],
    });
    for (const { n, incident_id } of known)
      accepted[asked[n - 1]!] = { outcome: 'duplicate', incidentId: incident_id };
  }
  const rest = deliveries.filter((_, i) => !accepted[i]);
  if (rest.length > 0) {
    // The payloads go as one JSON array, not a jsonb[]: pg would escape each one's every quote into an
    // array literal, a pass over the whole body in the bot's thread, for PostgreSQL to undo.
    const { rows: stored } = await pool.query<{ id: string; group_key: string }>({
      name: 'deliveries-store',
      text: `INSERT INTO alert_deliveries (group_key, payload)
             SELECT p ->> 'groupKey', p FROM jsonb_array_elements($1::jsonb) AS p
             RETURNING id, group_key`,
      values: [JSON.stringify(rest.map((d) => d.payload()))],
    });
    const ids = new Map(stored.map((row) => [row.group_key, deliveryIdOf(row.id)]));
    for (const [i, delivery] of deliveries.entries()) {
      const deliveryId = ids.get(delivery.groupKey);
      if (!accepted[i] && deliveryId !== undefined) accepted[i] = { outcome: 'accepted', deliveryId };
    }
  }
  const answers = accepted.map((a) => {
    if (!a) throw new Error('a delivery of the batch was neither known nor stored');
    return a;
  });
  for (const d of deliveries) lastAccepted?.accepted(d.groupKey, d.digest);
  return answers;
}

/**
 * A delivery's id (bigserial), which PostgreSQL sends as text: every notification that changes something
 * takes one, and a busy bot may pass 2^31 (`::int` would then fail every store); a number is exact to 2^53.
 */
const deliveryIdOf = (id: string): number => Number(id);

export type IngestedDelivery =
  | { deliveryId: number; groupKey: string; outcome: 'ingested'; result: DeliveryResult }
  /** It can never be ingested: a value PostgreSQL refuses, or a fault that outlasted every attempt. */
  | { deliveryId: number; groupKey: string; outcome: 'refused'; error: string };

interface Claimed {
  id: number;
  group_key: string;
  payload: unknown;
  attempts: number;
}

// SQLSTATE 25P01: ROLLBACK TO SAVEPOINT outside a transaction.
const NO_ACTIVE_TRANSACTION = '25P01';

// SQLSTATE class 22, data exception: a value in the payload PostgreSQL will never take.
export const isDataException = (err: unknown): err is pg.DatabaseError =>
  err instanceof pg.DatabaseError && !!err.code?.startsWith('22');

/**
 * Ingests the oldest waiting delivery whose group has none waiting before it (the rest of the group waits
 * its turn, so a group's notifications apply in the order they came), in one transaction with its record.
 * Undefined when there is none to take. A database that does not answer leaves it waiting, untouched (the error is
 * thrown); another failure is counted and the delivery tried again later (IngestFailed is thrown); a data
 * exception, or the last attempt's failure, refuses it for good.
 */
export async function ingestNextDelivery(
  pool: pg.Pool,
  config: IngestConfig,
): Promise<IngestedDelivery | undefined> {
  const client = await pool.connect();
  let discarded = false;
  try {
    // One round trip for three statements: a simple query, which takes no parameters. Not a prepared
    // statement either way: without parameters its one plan would be made once per connection, and one
    // made while the table was nearly empty (seq scans) takes 100 ms a claim once a storm fills it. The
    // savepoint lets a failed ingest be rolled back to the claim, and its attempt recorded.
    //
    // The claim marks the delivery processed itself, in the transaction that locks it: a row locked by a
    // transaction and updated by its subtransaction gets a MultiXact as its deleter, which PostgreSQL never
    // takes for surely dead, so its entry in the index of waiting deliveries would be read by every later
    // claim until VACUUM. Other transactions see it waiting until the commit.
    const [, claimed] = (await client.query(
      `BEGIN;
       UPDATE alert_deliveries SET processed_at = now() WHERE id = (
         SELECT d.id FROM alert_deliveries d
          WHERE d.processed_at IS NULL AND (d.retry_at IS NULL OR d.retry_at <= now())
            AND NOT EXISTS (SELECT 1 FROM alert_deliveries o
                             WHERE o.group_key = d.group_key AND o.processed_at IS NULL AND o.id < d.id)
          ORDER BY d.id LIMIT 1 FOR UPDATE SKIP LOCKED)
       RETURNING id, group_key, payload, attempts;
       SAVEPOINT ingest`,
    )) as unknown as [pg.QueryResult, pg.QueryResult<Omit<Claimed, 'id'> & { id: string }>, pg.QueryResult];
    const row = claimed.rows[0];
    if (!row) {
      await client.query('COMMIT');
      return undefined;
    }
    const delivery: Claimed = { ...row, id: deliveryIdOf(row.id) };
    // The record and the commit in one round trip: a simple query, which takes no parameters, so the values
    // go as literals (escapeLiteral quotes the error's every quote and backslash).
    const recordAndCommit = (outcome: string, incidentId: number | null, error: string | null) =>
      client.query(
        `UPDATE alert_deliveries SET outcome = ${escapeLiteral(outcome)}, incident_id = ${incidentId ?? 'NULL'},
                error = ${error === null ? 'NULL' : escapeLiteral(error)},
                attempts = attempts + ${error === null ? 0 : 1}, retry_at = NULL
                ${outcome === 'refused' ? '' : ', payload = NULL'}
          WHERE id = ${delivery.id};
         COMMIT`,
      );
    try {
      // Validated again: it may have been stored by an earlier version of the bot.
      const payload = parseWebhookPayload(delivery.payload);
      const result = await ingestDelivery(client, config, payload, delivery.id);
      await recordAndCommit(result.outcome, result.incident?.id ?? null, null);
      return { deliveryId: delivery.id, groupKey: delivery.group_key, outcome: 'ingested', result };
    } catch (err) {
      if (isDatabaseUnreachable(err)) throw err;
      // A commit that failed ended the transaction, savepoint and all: the delivery waits, untouched, and
      // the commit's own error is the one thrown.
      await client.query('ROLLBACK TO SAVEPOINT ingest').catch((rollback: unknown) => {
        throw (rollback as { code?: string }).code === NO_ACTIVE_TRANSACTION ? err : rollback;
      });
      // A NUL, which no text column holds, would make PostgreSQL refuse the statement that records it.
      const error = shortReason(err instanceof z.ZodError ? z.prettifyError(err) : err).replaceAll('\0', '');
      const refused =
        err instanceof z.ZodError || isDataException(err) || delivery.attempts + 1 >= MAX_INGEST_ATTEMPTS;
      if (!refused) {
        // Waiting again: the claim's mark is undone.
        await client.query(
          `UPDATE alert_deliveries SET processed_at = NULL, attempts = attempts + 1, error = $2,
                  retry_at = now() + least(power(2, attempts), $3) * interval '1 second'
            WHERE id = $1`,
          [delivery.id, error, RETRY_CAP_SECONDS],
        );
        await client.query('COMMIT');
        throw new IngestFailed(delivery.id, delivery.group_key, { cause: err });
      }
      await recordAndCommit('refused', null, error);
      return { deliveryId: delivery.id, groupKey: delivery.group_key, outcome: 'refused', error };
    }
  } catch (err) {
    if (err instanceof IngestFailed) throw err;
    // A connection that failed mid-transaction, its session maybe holding the delivery's and the incident's
    // locks, is not given back to the pool, and its session is ended.
    if (isDatabaseUnreachable(err)) {
      discarded = true;
      await discardClient(pool, client);
    } else await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    if (!discarded) client.release();
  }
}

/** Ingesting this delivery failed; it is tried again later (MAX_INGEST_ATTEMPTS). Other deliveries may go on. */
export class IngestFailed extends Error {
  constructor(
    readonly deliveryId: number,
    readonly groupKey: string,
    options: ErrorOptions,
  ) {
    super(`ingesting delivery ${deliveryId} failed: ${shortReason(options.cause)}`, options);
    this.name = 'IngestFailed';
  }
}

/**
 * What ingesting a stored delivery came to (its outcome, and incident), once it has been ingested; waits
 * for that at most `waitMs`, and is undefined if it has not been by then.
 */
export async function ingestedOutcome(
  pool: pg.Pool,
  deliveryId: number,
  waitMs: number,
): Promise<{ outcome: string; incidentId?: number } | undefined> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await pool.query<{ outcome: string; incident_id: number | null }>({
      name: 'deliveries-outcome',
      text: 'SELECT outcome, incident_id::int FROM alert_deliveries WHERE id = $1 AND processed_at IS NOT NULL',
      values: [deliveryId],
    });
    const row = rows[0];
    if (row)
      return { outcome: row.outcome, ...(row.incident_id !== null ? { incidentId: row.incident_id } : {}) };
    if (Date.now() >= deadline) return undefined;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

/** How many deliveries wait to be ingested, and for how long the oldest has. */
export async function deliveriesWaiting(pool: pg.Pool): Promise<{ count: number; oldestSeconds: number }> {
  const { rows } = await pool.query<{ count: number; oldest_seconds: number }>(
    `SELECT count(*)::int AS count,
            coalesce(extract(epoch FROM now() - min(received_at)), 0)::float8 AS oldest_seconds
       FROM alert_deliveries WHERE processed_at IS NULL`,
  );
  return { count: rows[0]!.count, oldestSeconds: rows[0]!.oldest_seconds };
}

/** Forgets deliveries ingested more than a day ago, a batch at a time; returns how many. */
export async function forgetIngestedDeliveries(pool: pg.Pool, batch = 10_000): Promise<number> {
  const { rowCount } = await pool.query(
    `DELETE FROM alert_deliveries WHERE id IN (
       SELECT id FROM alert_deliveries WHERE processed_at < now() - $1::interval LIMIT $2)`,
    [KEEP_INGESTED, batch],
  );
  return rowCount ?? 0;
}
