import type pg from 'pg';

/** What a replayed or retried request from Slack is told: it changes nothing twice. */
export const ALREADY_HANDLED = 'This request was already handled.';

/**
 * Records a request from Slack by its key (e.g. `command:<trigger_id>`); false when it was recorded
 * before. Inside a transaction, the claim commits with the work it guards, or not at all.
 */
export async function claimSlackRequest(db: pg.ClientBase | pg.Pool, key: string): Promise<boolean> {
  const { rowCount } = await db.query(
    'INSERT INTO slack_requests (request_key) VALUES ($1) ON CONFLICT DO NOTHING',
    [key],
  );
  return rowCount === 1;
}
