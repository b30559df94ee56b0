import type pg from 'pg';
import { ingestedOutcome } from '../../src/alerts/deliveries.js';
import { incidentRef } from '../../src/primitives/ids.js';
import { waitFor } from './services.js';

/** Resolves once every delivery stored is ingested and this bot has passed on what they changed. */
export async function allIngested(pool: pg.Pool, ingestIdle: () => Promise<void>): Promise<void> {
  await waitFor(
    async () => {
      await ingestIdle();
      const { rows } = await pool.query('SELECT 1 FROM alert_deliveries WHERE processed_at IS NULL LIMIT 1');
      return rows.length === 0;
    },
    20_000,
    'every stored delivery to be ingested',
  );
}

/**
 * The webhook's answer as it was before it stored first: for a delivery it accepted, what ingesting it came
 * to (its outcome and incident), once this bot has ingested it and passed on what it changed. Other answers
 * are returned as they are.
 */
export async function untilIngested(
  pool: pg.Pool,
  ingestIdle: () => Promise<void>,
  res: Response,
): Promise<Response> {
  if (res.status !== 200) return res;
  const answer = (await res.clone().json()) as { outcome?: string; delivery?: number };
  if (answer.outcome !== 'accepted') return res;
  await ingestIdle();
  const ingested = await ingestedOutcome(pool, answer.delivery!, 20_000);
  if (!ingested) throw new Error(`delivery ${answer.delivery} was not ingested within 20 s`);
  // Passed on by this bot once it is idle: the one that ingested it may have been busy still.
  await ingestIdle();
  const { outcome, incidentId } = ingested;
  return Response.json(
    { outcome, ...(incidentId !== undefined ? { incident: incidentRef(incidentId) } : {}) },
    { status: res.status, headers: res.headers },
  );
}
