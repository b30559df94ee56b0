import type pg from 'pg';
import {
  findPostIntent,
  forgetPostIntent,
  type PostEventType,
  type PostIntent,
  recordPostIntent,
} from '../db/slackPostIntents.js';
import type { Block } from '../render/blockKit.js';
import type { SlackConfig } from './configSchema.js';
import { SlackRateLimitedError, SlackRejectedError } from './errors.js';
import type { SlackRateLimiter } from './rateLimiter.js';
import type { MessagePage, SlackApi } from './slackApi.js';

/**
 * chat.postMessage exactly once (DESIGN.md principle 7). Every post carries metadata naming what it
 * shows and a nonce recorded in PostgreSQL before the call. When a post's outcome is unknown (the
 * process died, the answer timed out, Slack answered 5xx after taking it), its intent is still there:
 * the next attempt looks for the message by its nonce and adopts it rather than posting a second one.
 * Looking costs Tier 3 calls, so it happens only then, never on the normal path.
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
}

export interface Posted {
  ts: string;
  version: number;
  entryIds: number[];
  /** Found in Slack from an earlier attempt rather than posted now: it may show an older version. */
  adopted: boolean;
}

// Slack's clock and the database's may differ: look back this much further than the intent's time.
const CLOCK_SKEW_MS = 60_000;
const PAGE_SIZE = 200;

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
    const ts = await findPosted(deps, earlier);
    if (ts) {
      const adopted = { ts, version: earlier.version, entryIds: earlier.entryIds, adopted: true };
      await settle(db, earlier, () => record(adopted));
      return adopted;
    }
  }

  let intent: PostIntent | undefined;
  try {
    const { ts } = await deps.limiter.run(
      `chat.postMessage:${post.channel}`,
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
    );
    const posted = { ts, version: post.version, entryIds: post.entryIds ?? [], adopted: false };
    await settle(db, intent!, () => record(posted));
    return posted;
  } catch (err) {
    // Slack refused it or never took it: the next attempt may post without looking first.
    if (intent && (err instanceof SlackRejectedError || err instanceof SlackRateLimitedError))
      await forgetPostIntent(db, intent).catch(() => {});
    throw err;
  }
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

/** The ts of the message an intent's post made, if Slack has it: channel history, or the thread's replies. */
async function findPosted(deps: PostOnceDeps, intent: PostIntent): Promise<string | undefined> {
  const oldest = slackTs(intent.recordedAt.getTime() - CLOCK_SKEW_MS);
  let cursor: string | undefined;
  do {
    const query = { channel: intent.channelId, oldest, limit: PAGE_SIZE, ...(cursor ? { cursor } : {}) };
    const threadTs = intent.threadTs;
    let page: MessagePage;
    try {
      page = threadTs
        ? await deps.limiter.run('conversations.replies', deps.limits.history, () =>
            deps.slack.replies({ ...query, threadTs }),
          )
        : await deps.limiter.run('conversations.history', deps.limits.history, () =>
            deps.slack.history(query),
          );
    } catch (err) {
      // The thread is gone (its first message deleted), and with it anything posted in it.
      if (err instanceof SlackRejectedError && err.slackError === 'thread_not_found') return undefined;
      // An install without the history scopes (not reinstalled since they were added; doctor says so)
      // cannot look: posting again risks a second message, which beats an incident nobody sees.
      if (err instanceof SlackRejectedError && err.slackError === 'missing_scope') return undefined;
      throw err;
    }
    const found = page.messages.find(
      (m) => m.metadata?.eventType === intent.eventType && m.metadata.payload.nonce === intent.nonce,
    );
    if (found) return found.ts;
    cursor = page.nextCursor;
  } while (cursor);
  return undefined;
}

/** A time as a Slack ts: seconds and microseconds. */
function slackTs(ms: number): string {
  return (ms / 1000).toFixed(6);
}
