import type pg from 'pg';
import { answerFromScans, foundKey, recordHistoryScan, scanWindow } from '../db/slackHistoryScans.js';
import {
  findPostIntent,
  forgetPostIntent,
  markPostAnswered,
  POST_ATTEMPT_MAX_MS,
  type PostEventType,
  type PostIntent,
  recordPostIntent,
} from '../db/slackPostIntents.js';
import type { Block } from '../render/blockKit.js';
import type { SlackConfig } from './configSchema.js';
import {
  SlackOutcomePendingError,
  SlackRateLimitedError,
  SlackRejectedError,
  SlackUnavailableError,
} from './errors.js';
import type { SlackRateLimiter } from './rateLimiter.js';
import type { MessagePage, SlackApi } from './slackApi.js';

/**
 * chat.postMessage exactly once (DESIGN.md principle 7). Every post carries metadata naming what it
 * shows and a nonce recorded in PostgreSQL before the call. When a post's outcome is unknown (the
 * process died, the answer timed out, Slack answered 5xx after taking it), its intent is still there:
 * the next attempt looks for the message by its nonce and adopts it rather than posting a second one.
 * Looking costs Tier 3 calls, so it happens only then, never on the normal path, and one look serves
 * many: a scan reads the channel (or thread) from its oldest pending intent and is stored in PostgreSQL
 * (slack_history_scans), where it answers for the other posts it covers (see answerFromScans below), so
 * after an outage one scan settles every root posted into it instead of one scan each.
 */

export interface PostOnceDeps {
  slack: SlackApi;
  limiter: SlackRateLimiter;
  limits: Pick<SlackConfig['rateLimits'], 'postMessagePerChannel' | 'history'>;
}

export interface Post {
  eventType: PostEventType;
  subjectId: number;
  channel: string;
  threadTs?: string;
  /** The version of the incident or request the message shows. */
  version: number;
  /** The timeline entries the message shows. */
  entryIds?: number[];
  /** The ids the message's metadata names besides its nonce, e.g. { incident_id: 12 }. */
  payload: Record<string, string | number>;
  message: { text: string; blocks: Block[] };
  /** A new incident's root: it takes the channel's next slot ahead of the posts waiting for it. */
  goesFirst?: boolean;
}

export interface Posted {
  ts: string;
  version: number;
  entryIds: number[];
  /** Found in Slack from an earlier attempt rather than posted now: it may show an older version. */
  adopted: boolean;
}

// Slack's clock and the database's may differ: look back this much further than the intent's time.
export const CLOCK_SKEW_MS = 60_000;
export const PAGE_SIZE = 200;
// The longest wait of our own limiter for the history's next slot that a lookup sits out: after a page,
// rather than give up what it has read; before the first, to ask the stored scans again. Longer, the sync
// is delayed.
const PAGE_WAIT_MAX_MS = 5_000;
// A scan reads back to the oldest intent pending in its channel or thread, but no more than this before
// the intent it is made for, so one long-forgotten intent cannot make every scan read hours of history.
const SHARED_SCAN_MAX_BACK_MS = 60 * 60_000;
// Stored scans are forgotten this long after they were made: by then the intents they cover are settled
// or better served by a newer scan.
const SCAN_KEEP_MS = 60 * 60_000;

/**
 * Posts `post`, or adopts the message an earlier attempt posted. `record` stores the message's ts: it
 * runs on `db` in the transaction that forgets the intent, so a failure in it leaves the outcome
 * unknown again rather than lost.
 */
export async function postOnce(
  deps: PostOnceDeps,
  db: pg.ClientBase,
  post: Post,
  record: (posted: Posted) => Promise<void>,
): Promise<Posted> {
  const earlier = await findPostIntent(db, post.eventType, post.subjectId);
  if (earlier) {
    const ts = await findPosted(deps, db, earlier);
    if (ts) {
      const adopted = { ts, version: earlier.version, entryIds: earlier.entryIds, adopted: true };
      await settle(db, earlier, () => record(adopted));
      return adopted;
    }
  }

  let intent: PostIntent | undefined;
  const { key, turn } = postTurn(post);
  try {
    const { ts } = await deps.limiter.run(
      key,
      deps.limits.postMessagePerChannel,
      async () => {
        intent = await recordPostIntent(db, {
          eventType: post.eventType,
          subjectId: post.subjectId,
          channelId: post.channel,
          threadTs: post.threadTs ?? null,
          version: post.version,
          entryIds: post.entryIds ?? [],
        });
        return deps.slack.postMessage({
          channel: post.channel,
          ...post.message,
          ...(post.threadTs ? { threadTs: post.threadTs } : {}),
          metadata: { eventType: post.eventType, payload: { ...post.payload, nonce: intent.nonce } },
        });
      },
      turn,
    );
    const posted = { ts, version: post.version, entryIds: post.entryIds ?? [], adopted: false };
    await settle(db, intent!, () => record(posted));
    return posted;
  } catch (err) {
    // Slack refused it or never took it: the next attempt may post without looking first.
    if (intent && (err instanceof SlackRejectedError || err instanceof SlackRateLimitedError))
      await forgetPostIntent(db, intent).catch(() => {});
    // Slack answered: the attempt is over there, so a look that does not find it may post again at once.
    else if (intent && err instanceof SlackUnavailableError && err.answered)
      await markPostAnswered(db, intent).catch(() => {});
    throw err;
  }
}

/** What names a post's place in its channel's budget. */
type PostInLine = Pick<Post, 'eventType' | 'subjectId' | 'channel' | 'goesFirst'>;

/** The budget a post spends (its channel's) and its place in that budget's line. */
function postTurn(post: PostInLine) {
  const name = `${post.eventType}:${post.subjectId}`;
  return {
    key: `chat.postMessage:${post.channel}`,
    turn: post.goesFirst ? { first: name } : { waiter: name },
  };
}

/**
 * How long `post` would wait for its channel's budget (`key`) now, spending nothing; told to wait, it
 * keeps its place in line as postOnce would (SlackRateLimiter.waitInLine). Lets a caller put off work that
 * only the post needs.
 */
export async function waitForPostTurn(
  deps: Pick<PostOnceDeps, 'limiter' | 'limits'>,
  post: PostInLine,
): Promise<{ key: string; wait: number }> {
  const { key, turn } = postTurn(post);
  return { key, wait: await deps.limiter.waitInLine(key, deps.limits.postMessagePerChannel, turn) };
}

async function settle(db: pg.ClientBase, intent: PostIntent, record: () => Promise<void>): Promise<void> {
  await db.query('BEGIN');
  try {
    await record();
    await forgetPostIntent(db, intent);
    await db.query('COMMIT');
  } catch (err) {
    await db.query('ROLLBACK').catch(() => {});
    throw err;
  }
}

/**
 * The ts of the message an intent's post made, if Slack has it: from a stored scan that may answer for
 * it, else from a scan made now of the channel's history, or the thread's replies, which is stored for
 * the other intents it covers.
 *
 * Why a stored scan's answer is safe for an intent it was not made for (the only harm is a second
 * message: a post still in flight, or taken by Slack, that the scan did not see). It answers only when
 * (1) it read everything after the intent's recorded_at less CLOCK_SKEW_MS, so a message the intent's
 * attempt made, which Slack stamps after the intent was recorded (give or take the clocks' skew), is in
 * its window; and (2) the attempt was over when it began: it began after Slack answered the attempt
 * (answered_at, a 5xx), or more than POST_ATTEMPT_MAX_MS after recorded_at when no answer came (the
 * attempt starts after recorded_at and is abandoned by the client after 10 s). All these times are the
 * database's clock (recorded_at, answered_at, and clock_timestamp() read before the scan's first call), so
 * no other clock enters the rule. The scan read every page of its window; a scan cut short by an error is
 * not stored. A newer attempt records a new nonce and recorded_at, so an answer always concerns the
 * intent's latest attempt. The scan made for the intent itself follows the same rule.
 *
 * A lookup told by our own limiter to wait for the history's next slot (up to PAGE_WAIT_MAX_MS; a longer
 * wait delays the sync) sits the wait out and then asks the stored scans again: after an outage every
 * sync's lookup comes at once, and the first scan answers for the others rather than each making its own
 * at the history's pace (50 a minute).
 *
 * When the attempt was not over as the scan made for it began (no answer came: a client timeout, a crash),
 * Slack may still take the post: not finding it yet proves nothing, so the caller is told to look again
 * later (SlackOutcomePendingError) rather than post a second message.
 */
async function findPosted(
  deps: PostOnceDeps,
  db: pg.ClientBase,
  intent: PostIntent,
): Promise<string | undefined> {
  for (;;) {
    try {
      return await lookUp(deps, db, intent);
    } catch (err) {
      if (!isShortWait(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, err.waitMs));
    }
  }
}

/** findPosted's one try: a short wait for the history's first page is thrown, to be sat out by the caller. */
async function lookUp(
  deps: PostOnceDeps,
  db: pg.ClientBase,
  intent: PostIntent,
): Promise<string | undefined> {
  const stored = await answerFromScans(db, intent, {
    coverBackMs: CLOCK_SKEW_MS,
    startedAfterMs: POST_ATTEMPT_MAX_MS,
  });
  if (stored) return stored.ts;

  const window = await scanWindow(db, intent, SHARED_SCAN_MAX_BACK_MS);
  const oldestMs = window.from.getTime() - CLOCK_SKEW_MS;
  const oldest = slackTs(oldestMs);
  const threadTs = intent.threadTs;
  const found: Record<string, string> = {};
  let cursor: string | undefined;
  do {
    const query = { channel: intent.channelId, oldest, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) };
    let page: MessagePage;
    try {
      page = await readPage(
        deps,
        threadTs ? () => deps.slack.replies({ ...query, threadTs }) : () => deps.slack.history(query),
        threadTs ? 'conversations.replies' : 'conversations.history',
        { sitOut: cursor !== undefined },
      );
    } catch (err) {
      // The thread is gone (its first message deleted), and with it anything posted in it.
      if (err instanceof SlackRejectedError && err.slackError === 'thread_not_found') return undefined;
      // An install without the history scopes (not reinstalled since they were added; doctor says so)
      // cannot look: posting again risks a second message, which beats an incident nobody sees.
      if (err instanceof SlackRejectedError && err.slackError === 'missing_scope') return undefined;
      throw err;
    }
    for (const m of page.messages) {
      const nonce = m.metadata?.payload.nonce;
      if (typeof nonce === 'string') found[foundKey(m.metadata!.eventType, nonce)] = m.ts;
    }
    cursor = page.nextCursor;
  } while (cursor);

  await recordHistoryScan(
    db,
    { channelId: intent.channelId, threadTs, oldest: new Date(oldestMs), scannedAt: window.now, found },
    SCAN_KEEP_MS,
  );
  const ts = found[foundKey(intent.eventType, intent.nonce)];
  const settledAt = intent.recordedAt.getTime() + POST_ATTEMPT_MAX_MS;
  if (!ts && !intent.answeredAt && window.now.getTime() < settledAt)
    throw new SlackOutcomePendingError(settledAt - window.now.getTime());
  return ts;
}

/**
 * One page of a lookup. With `sitOut` (a page after the first), our own limiter's short waits are sat out
 * here: giving up would throw away the pages read so far, and a lookup longer than the limit's burst would
 * start over, and stop short, for ever.
 */
export async function readPage(
  deps: Pick<PostOnceDeps, 'limiter' | 'limits'>,
  read: () => Promise<MessagePage>,
  method: 'conversations.history' | 'conversations.replies',
  { sitOut }: { sitOut: boolean },
): Promise<MessagePage> {
  for (;;) {
    try {
      return await deps.limiter.run(method, deps.limits.history, read);
    } catch (err) {
      if (!sitOut || !isShortWait(err)) throw err;
      await new Promise((resolve) => setTimeout(resolve, err.waitMs));
    }
  }
}

/** Our own limiter's wait for the history's next slot, short enough to sit out in a lookup. */
function isShortWait(err: unknown): err is SlackRateLimitedError {
  return err instanceof SlackRateLimitedError && !err.fromSlack && err.waitMs <= PAGE_WAIT_MAX_MS;
}

/** A time as a Slack ts: seconds and microseconds. */
export function slackTs(ms: number): string {
  return (ms / 1000).toFixed(6);
}
