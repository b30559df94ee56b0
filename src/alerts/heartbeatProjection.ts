import type pg from 'pg';
import { withSyncLock } from '../db/syncLock.js';
import type { TemplateSet } from '../render/templates.js';
import type { SlackConfig } from '../slack/configSchema.js';
import { postOnce } from '../slack/postOnce.js';
import type { SlackRateLimiter } from '../slack/rateLimiter.js';
import type { SlackApi } from '../slack/slackApi.js';
import { heartbeatGapView } from '../views/heartbeat.js';
import { type GapNews, gapsToTellUpTo, type HeartbeatGap, loadGap } from './heartbeat.js';

/**
 * A heartbeat gap's two messages, a projection of its row like an incident's: "silent since" once it is
 * recorded, "back" once it has ended, each posted once (src/slack/postOnce.ts), in that order, where the
 * default channel was when the gap was found. A Slack outage delays them; a crash does not repeat them.
 */

export interface HeartbeatProjectionDeps {
  pool: pg.Pool;
  slack: SlackApi;
  limiter: SlackRateLimiter;
  templates: TemplateSet;
  config: { slack: Pick<SlackConfig, 'rateLimits'> };
}

/**
 * Posts what the gap's row, and the rows of the earlier gaps of its channel, say Slack has not shown yet,
 * oldest first; returns how many messages it posted. One syncer for every gap, so that two jobs released
 * together (after a Slack outage) neither post out of order nor post the same message at once.
 */
export async function syncHeartbeatGap(deps: HeartbeatProjectionDeps, gapId: number): Promise<number> {
  return withSyncLock(deps.pool, 'incident-bot:heartbeat-sync', 0, 'heartbeat gaps', async (db) => {
    let posted = 0;
    for (const id of await gapsToTellUpTo(db, gapId)) posted += await tellGap(deps, db, id);
    return posted;
  });
}

async function tellGap(deps: HeartbeatProjectionDeps, db: pg.ClientBase, gapId: number): Promise<number> {
  const posts = { slack: deps.slack, limiter: deps.limiter, limits: deps.config.slack.rateLimits };
  let posted = 0;
  // Read again after each post: the gap may have ended meanwhile.
  for (;;) {
    const gap = await loadGap(db, gapId);
    const news = gap && untold(gap);
    if (!gap || !news) return posted;
    await postOnce(
      posts,
      db,
      {
        eventType: `heartbeat_${news}`,
        subjectId: gapId,
        channel: gap.channelId,
        // The message shows the gap as it was found or ended, which never changes.
        version: 0,
        payload: { heartbeat_gap_id: gapId },
        message: deps.templates.renderMessage(`heartbeat-${news}`, heartbeatGapView(gap)),
      },
      async ({ ts }) => {
        await db.query(`UPDATE heartbeat_gaps SET ${news}_ts = $2 WHERE id = $1`, [gapId, ts]);
      },
    );
    posted++;
  }
}

/** The gap's next message Slack has not shown, in order: it went missing, then it came back. */
function untold(gap: HeartbeatGap): GapNews | undefined {
  if (!gap.missingTs) return 'missing';
  return gap.endedAt && !gap.backTs ? 'back' : undefined;
}
