/**
 * The retry backoff of the Slack syncs and of an incident's tasks (its channel, post-mortem, reminders,
 * silence ends): a job that failed through an outage (Slack's, Alertmanager's, the database's) is tried
 * again within minutes of the end, however long it lasted. BullMQ's own exponential backoff has no cap:
 * after an hour's outage, the next try could be an hour away. A worker whose jobs use it names
 * `cappedExponentialBackoff` as its strategy: one that does not cannot retry them (BullMQ leaves such a
 * job stalled, then fails it).
 */
export const CAPPED_BACKOFF = { type: 'capped-exponential' } as const;

const MAX_BACKOFF_MS = 5 * 60_000;

/** The longest a job waits out one retry's backoff of cappedExponentialBackoff. */
export const MAX_RETRY_WAIT_MS = MAX_BACKOFF_MS * 1.2;

/** 1 s, 2 s, 4 s… capped at 5 minutes, ±20% so that recovering workers do not stampede Slack. */
export function cappedExponentialBackoff(attemptsMade: number): number {
  const base = Math.min(MAX_BACKOFF_MS, 1000 * 2 ** Math.max(0, attemptsMade - 1));
  return Math.round(base * (0.8 + Math.random() * 0.4));
}
