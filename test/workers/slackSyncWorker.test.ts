import { describe, expect, it } from 'vitest';
import { PoolBusyError } from '../../src/db/pool.js';
import { SyncBusyError } from '../../src/db/syncLock.js';
import {
  SlackOutcomePendingError,
  SlackRateLimitedError,
  SlackUnavailableError,
} from '../../src/slack/errors.js';
import { waitToRetry } from '../../src/workers/slackSyncWorker.js';

/** Which failures of a Slack sync only make it wait (no attempt used), and how long. */
describe('waitToRetry', () => {
  it('waits for a rate limit, another syncer, a post whose outcome is unknown and a database out of reach', () => {
    expect(waitToRetry(new SyncBusyError('INC-1'))).toBe(500);
    expect(waitToRetry(new SlackRateLimitedError('chat.update:C1', 1200, true))).toBe(1200);
    expect(waitToRetry(new SlackOutcomePendingError(3000))).toBe(3000);
    // pg-pool's words when no client came back in its connectionTimeoutMillis: the database not answering.
    expect(waitToRetry(new Error('timeout exceeded when trying to connect'))).toBe(2000);
    expect(waitToRetry(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }))).toBe(
      2000,
    );
    // pg's words when a query went unanswered past the pool's read timeout: a connection gone silent.
    expect(waitToRetry(new Error('Query read timeout'))).toBe(2000);
    // Every client of the syncs' pool busy: the database answers, and the sync waits all the same.
    expect(waitToRetry(new PoolBusyError(9, 1000))).toBe(2000);
  });

  it('counts an attempt for Slack unreachable (the probe ends its backoff) and for anything else', () => {
    expect(waitToRetry(new SlackUnavailableError('chat.update', 'fetch failed'))).toBeUndefined();
    expect(waitToRetry(new Error('a bug'))).toBeUndefined();
  });
});
