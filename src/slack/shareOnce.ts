import { POST_ATTEMPT_MAX_MS } from '../db/slackPostIntents.js';
import { SlackOutcomePendingError, SlackRejectedError } from './errors.js';
import { CLOCK_SKEW_MS, PAGE_SIZE, type PostOnceDeps, readPage, slackTs } from './postOnce.js';

/**
 * A file's share into a thread exactly once (DESIGN.md principle 7), as postOnce is a post's: the file is
 * staged first (SlackApi.stageFile), which gives its id, and the caller records that id, where it is to be
 * shown and when, before files.completeUploadExternal. A share whose outcome is unknown (the answer timed
 * out or was cut, Slack answered 5xx, the process died) is then looked up by its file's id among the
 * thread's messages rather than shared again, which would show the file twice.
 */

/** A share recorded before its call and not known to have failed: the outcome is unknown. */
export interface ShareAttempt {
  fileId: string;
  channelId: string;
  threadTs: string;
  /** When it was recorded, by the database's clock. */
  startedAt: Date;
}

/**
 * Whether the file `attempt` shares is shown in its thread: read from the attempt's time (less the clocks'
 * skew) with conversations.replies, through the history's limit. `now` is the database's clock, read before
 * this look. Slack shares a completed upload a moment after it answers, so until POST_ATTEMPT_MAX_MS after
 * the attempt, whether or not it answered, a look that does not find it throws SlackOutcomePendingError: the
 * caller looks again later. A thread Slack will not show (gone, a channel the bot left, a token without the
 * history scopes) cannot be looked in: the file is taken as not shown, and shared again where it now goes.
 */
export async function findShare(
  deps: Pick<PostOnceDeps, 'slack' | 'limiter' | 'limits'>,
  attempt: ShareAttempt,
  now: Date,
): Promise<boolean> {
  const query = {
    channel: attempt.channelId,
    threadTs: attempt.threadTs,
    oldest: slackTs(attempt.startedAt.getTime() - CLOCK_SKEW_MS),
    limit: PAGE_SIZE,
  };
  let cursor: string | undefined;
  do {
    const at = cursor ? { cursor } : {};
    try {
      const read = () => deps.slack.replies({ ...query, ...at });
      const page = await readPage(deps, read, 'conversations.replies', { sitOut: true });
      if (page.messages.some((m) => m.fileIds?.includes(attempt.fileId))) return true;
      cursor = page.nextCursor;
    } catch (err) {
      if (err instanceof SlackRejectedError) return false;
      throw err;
    }
  } while (cursor);
  const settledAt = attempt.startedAt.getTime() + POST_ATTEMPT_MAX_MS;
  if (now.getTime() < settledAt) throw new SlackOutcomePendingError(settledAt - now.getTime());
  return false;
}
