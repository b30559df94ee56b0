import type pg from 'pg';
import { POST_ATTEMPT_MAX_MS } from './slackPostIntents.js';

/**
 * Updates of a message that got no answer (a timeout, a gateway's 502), which Slack may still carry out
 * for as long as a post may land (POST_ATTEMPT_MAX_MS): no later update of the message is sent before
 * then, lest the late one land last and Slack show an older version for good while PostgreSQL holds the
 * newer shown. `update_unsettled_until` (migrations/031) on the row whose message it is: an incident's
 * root, an action request's approval message.
 */
export type UpdatedMessages = 'incidents' | 'action_requests';

/**
 * As a column of the row `row` names (its table, or the alias it goes by): how long, in ms, an update
 * that got no answer may still land (0: none may).
 */
export const updateUnsettledMs = (row: string) =>
  `greatest(0, ceil(extract(epoch FROM ${row}.update_unsettled_until - now()) * 1000))::int`;

export async function markUpdateUnsettled(
  db: pg.ClientBase,
  table: UpdatedMessages,
  id: number,
): Promise<void> {
  await db.query(
    `UPDATE ${table} SET update_unsettled_until = now() + $2 * interval '1 millisecond' WHERE id = $1`,
    [id, POST_ATTEMPT_MAX_MS],
  );
}

export async function readUpdateUnsettledMs(
  db: pg.ClientBase,
  table: UpdatedMessages,
  id: number,
): Promise<number> {
  const { rows } = await db.query<{ ms: number }>(
    `SELECT ${updateUnsettledMs(table)} AS ms FROM ${table} WHERE id = $1`,
    [id],
  );
  return rows[0]?.ms ?? 0;
}
