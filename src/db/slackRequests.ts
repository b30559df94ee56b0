import type pg from 'pg';

/** What a replayed or retried request from Slack is told: it changes nothing twice. */
export const ALREADY_HANDLED = 'This request was already handled.';

/**
 * Records a request from Slack by its key (e.g. `command:<trigger_id>`); false when it was recorded
 * before. Inside a transaction, the claim commits with the work it guards, or not at all.
 */
export async function claimSlackRequest(db: pg.ClientBase | pg.Pool, key: string): Promise<boolean> {
  const { rowCount } = await db.query({
    name: 'slack-requests-claim',
    text: 'INSERT INTO slack_requests (request_key) VALUES ($1) ON CONFLICT DO NOTHING',
    values: [key],
  });
  return rowCount === 1;
}

/**
 * claimSlackRequest inside the statement that does the work: `cte`, a CTE named `claim`, and `claimed`, the
 * condition the work's writes and the statement's answer test. `key` is the statement's placeholder for the
 * request's key, whose NULL means a request with none, always claimed.
 *
 * `onlyIf`, a condition on the statement's earlier CTEs: the key is claimed only when the work is done, so
 * that a statement of its own, without a transaction, keeps no key for a request it refused. Such a refusal
 * asks slackRequestSeen whether it was a replay, to be told nothing more.
 */
export function slackRequestClaim(key: string, onlyIf = 'true'): { cte: string; claimed: string } {
  return {
    cte: `claim AS (
       INSERT INTO slack_requests (request_key) SELECT ${key} WHERE ${key}::text IS NOT NULL AND (${onlyIf})
       ON CONFLICT DO NOTHING RETURNING 1
     )`,
    claimed: `(${key}::text IS NULL OR EXISTS (SELECT 1 FROM claim))`,
  };
}

/**
 * Claims `key` for work that cannot share the claim's transaction (a queued job): if the work fails, the
 * claim is given back, so that trying again is not refused for something that never happened. False,
 * with nothing done, when the key was claimed before.
 */
export async function onceForSlackRequest(
  pool: pg.Pool,
  key: string,
  work: () => Promise<unknown>,
): Promise<boolean> {
  if (!(await claimSlackRequest(pool, key))) return false;
  try {
    await work();
  } catch (err) {
    // Given back unless the database is away too: then the error below is what the person hears of.
    await pool.query('DELETE FROM slack_requests WHERE request_key = $1', [key]).catch(() => {});
    throw err;
  }
  return true;
}

/**
 * Whether the request's key is claimed, read now: a refused statement's replay, whether its twin claimed
 * the key before it began or while it waited for a row.
 */
export async function slackRequestSeen(
  db: pg.ClientBase | pg.Pool,
  key: string | undefined,
): Promise<boolean> {
  if (key === undefined) return false;
  const { rows } = await db.query({
    name: 'slack-requests-seen',
    text: 'SELECT 1 FROM slack_requests WHERE request_key = $1',
    values: [key],
  });
  return rows.length > 0;
}
