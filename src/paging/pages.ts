import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { addTimelineEntries } from '../incidents/timeline.js';
import { incidentRef } from '../primitives/ids.js';

/**
 * Pages are a projection of the incident onto the pagers escalation asked for: what each pager must show
 * follows from Postgres (see pageSync.ts). Asking for a page only records it; a page-sync job sends it.
 */

/** The actor of the timeline entries paging records: the bot, on escalation's behalf. */
export const PAGING_ACTOR = 'paging';

/**
 * Stable per incident and pager; its random part keeps two installations (staging and production, say)
 * paging one PagerDuty service from merging each other's INC-1.
 */
function dedupKey(incidentId: number, pager: string): string {
  return `incident-bot:${incidentRef(incidentId)}:${pager}:${randomBytes(6).toString('hex')}`;
}

/**
 * Inside the caller's transaction: the incident is to be paged through `pager` (idempotent per incident
 * and pager: a second request for the same pager is a no-op). Records a timeline entry.
 */
export async function requestPage(
  db: pg.ClientBase,
  input: { incidentId: number; pager: string; step: number },
): Promise<void> {
  const { rows } = await db.query(
    `INSERT INTO incident_pages (incident_id, pager, step, dedup_key) VALUES ($1, $2, $3, $4)
     ON CONFLICT (incident_id, pager) DO NOTHING RETURNING id`,
    [input.incidentId, input.pager, input.step, dedupKey(input.incidentId, input.pager)],
  );
  if (rows.length === 0) return;
  await addTimelineEntries(db, input.incidentId, [
    { kind: 'page_requested', actor: PAGING_ACTOR, data: { pager: input.pager, step: input.step } },
  ]);
}

/** After commit: make the pagers show the incident's state (a page-sync job, in production). */
export interface PageEffects {
  /** A cheap no-op for an incident without pages. */
  pagesChanged(incidentId: number): Promise<void>;
}
