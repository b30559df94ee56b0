import type pg from 'pg';
import { type ActionCatalog, findAction } from '../actions/catalog.js';
import { markUpdateUnsettled, readUpdateUnsettledMs } from '../db/slackUpdates.js';
import { withSyncLock } from '../db/syncLock.js';
import { channelRefusal } from '../incidents/channelFallback.js';
import type { Metrics } from '../observability/metrics.js';
import { requestRef } from '../primitives/ids.js';
import type { TemplateSet } from '../render/templates.js';
import type { SlackConfig } from '../slack/configSchema.js';
import { SlackOutcomePendingError, SlackRejectedError, SlackUnavailableError } from '../slack/errors.js';
import { postOnce } from '../slack/postOnce.js';
import type { SlackRateLimiter } from '../slack/rateLimiter.js';
import type { SlackApi } from '../slack/slackApi.js';
import { actionRequestView } from '../views/actionRequest.js';
import { loadRequest, loadVotes } from './requests.js';

/**
 * An action request's approval message is a projection of its row, like an incident's root message:
 * posted once (in the incident's thread when there is one), then updated at every step.
 */

export interface ActionMessageDeps {
  pool: pg.Pool;
  slack: SlackApi;
  limiter: SlackRateLimiter;
  templates: TemplateSet;
  metrics: Metrics;
  config: ActionCatalog & { slack: Pick<SlackConfig, 'rateLimits' | 'defaultChannel'> };
}

/**
 * Posts or updates the approval message so that it shows the request's current version. One sync per
 * request at a time: two would post two messages, or leave a slow "Running" over "Succeeded". After
 * each Slack call it reads the request again, and goes again if the request moved meanwhile.
 */
export async function syncActionMessage(deps: ActionMessageDeps, requestId: number): Promise<void> {
  await withSyncLock(
    deps.pool,
    'incident-bot:action-message-sync',
    requestId,
    requestRef(requestId),
    async (db) => {
      try {
        await syncLocked(deps, db, requestId);
      } catch (err) {
        const refused = channelRefusal(err);
        if (!refused || !(await moveToFallback(db, requestId, deps.config.slack.defaultChannel, refused)))
          throw err;
        deps.metrics.slackChannelRefusals.inc({ error: refused });
        await syncLocked(deps, db, requestId);
      }
    },
  );
}

/**
 * A request asked for where Slack will not let the bot post (a channel it was never invited to, say)
 * is shown in its incident's thread, or else the default channel, saying where it was asked and why,
 * rather than nowhere while the requester waits for approvers who never see it. False when there is
 * nowhere else to go.
 */
async function moveToFallback(
  db: pg.ClientBase,
  requestId: number,
  defaultChannel: string,
  slackError: string,
): Promise<boolean> {
  const { rowCount } = await db.query(
    `WITH target AS (
       -- Its version stays: approvals and runs move it by version, and a message_ts of NULL is enough.
       SELECT COALESCE(i.channel_id, $2) AS channel_id, i.root_ts AS thread_ts
         FROM action_requests r
         LEFT JOIN incidents i
           ON i.id = r.incident_id AND i.root_ts IS NOT NULL AND i.channel_id IS DISTINCT FROM r.channel_id
          -- Moved once already: the next refusal goes to the default channel, never back and forth.
          AND r.refused_channel_id IS NULL
        WHERE r.id = $1
     ), moved AS (
       UPDATE action_requests r
          SET refused_channel_id = r.channel_id, slack_error = $3, channel_id = t.channel_id,
              thread_ts = t.thread_ts, message_ts = NULL, message_version = 0, updated_at = now()
         FROM target t
        WHERE r.id = $1 AND (r.channel_id, r.thread_ts) IS DISTINCT FROM (t.channel_id, t.thread_ts)
        RETURNING r.id
     ), forgotten AS (
       -- A post to the old channel whose outcome is unknown is not looked for there: it is done with.
       DELETE FROM slack_post_intents
        WHERE subject_id IN (SELECT id FROM moved) AND event_type = 'action_request'
     )
     SELECT id FROM moved`,
    [requestId, defaultChannel, slackError],
  );
  return (rowCount ?? 0) > 0;
}

async function syncLocked(deps: ActionMessageDeps, db: pg.PoolClient, requestId: number): Promise<void> {
  const limits = deps.config.slack.rateLimits;
  let reposted = false;
  for (;;) {
    const request = await loadRequest(db, requestId);
    if (request.messageTs && request.messageVersion >= request.version) return;
    const votes = await loadVotes(db, requestId);
    const message = deps.templates.renderMessage(
      'action-request',
      actionRequestView(request, findAction(deps.config, request.service, request.action), votes),
    );
    if (!request.messageTs) {
      await postOnce(
        { slack: deps.slack, limiter: deps.limiter, limits },
        db,
        {
          eventType: 'action_request',
          subjectId: requestId,
          channel: request.channelId,
          ...(request.threadTs ? { threadTs: request.threadTs } : {}),
          version: request.version,
          payload: { request_id: requestId },
          message,
        },
        async ({ ts, version }) => {
          await db.query('UPDATE action_requests SET message_ts = $2, message_version = $3 WHERE id = $1', [
            requestId,
            ts,
            version,
          ]);
        },
      );
      continue;
    }
    // An update unanswered may still land: one sent now could be overtaken by it ("Running" left over
    // "Succeeded").
    const unsettledMs = await readUpdateUnsettledMs(db, 'action_requests', requestId);
    if (unsettledMs > 0) throw new SlackOutcomePendingError(unsettledMs);
    try {
      await deps.limiter.run(
        'chat.update',
        limits.update,
        () => deps.slack.update({ channel: request.channelId, ts: request.messageTs!, ...message }),
        { waiter: `action-request:${requestId}` },
      );
    } catch (err) {
      if (err instanceof SlackUnavailableError && !err.answered)
        await markUpdateUnsettled(db, 'action_requests', requestId);
      // Someone deleted the approval message: post it again, where its buttons can be clicked. Once per
      // sync: a message Slack takes and then cannot find (a reply whose thread is gone) is not posted in a loop.
      if (reposted || !(err instanceof SlackRejectedError && err.slackError === 'message_not_found'))
        throw err;
      reposted = true;
      await db.query('UPDATE action_requests SET message_ts = NULL WHERE id = $1 AND message_ts = $2', [
        requestId,
        request.messageTs,
      ]);
      continue;
    }
    await db.query(
      'UPDATE action_requests SET message_version = GREATEST(message_version, $2) WHERE id = $1',
      [requestId, request.version],
    );
  }
}

/** Requests whose approval message is behind their row. */
export async function requestsBehindSlack(
  pool: pg.Pool,
  limit: number,
): Promise<Array<{ id: number; version: number }>> {
  const { rows } = await pool.query<{ id: number; version: number }>(
    'SELECT id::int AS id, version FROM action_requests WHERE message_ts IS NULL OR message_version < version ORDER BY id LIMIT $1',
    [limit],
  );
  return rows;
}
