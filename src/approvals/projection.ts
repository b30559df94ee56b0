import type pg from 'pg';
import { type ActionCatalog, findAction } from '../actions/catalog.js';
import { withSyncLock } from '../db/syncLock.js';
import { requestRef } from '../primitives/ids.js';
import type { TemplateSet } from '../render/templates.js';
import type { SlackConfig } from '../slack/configSchema.js';
import { SlackRejectedError } from '../slack/errors.js';
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
  config: ActionCatalog & { slack: Pick<SlackConfig, 'rateLimits'> };
}

/**
 * Posts or updates the approval message so that it shows the request's current version. One sync per
 * request at a time: two would post two messages, or leave a slow "Running" over "Succeeded". After
 * each Slack call it reads the request again, and goes again if the request moved meanwhile.
 */
export async function syncActionMessage(deps: ActionMessageDeps, requestId: number): Promise<void> {
  await withSyncLock(deps.pool, 'incident-bot:action-message-sync', requestId, requestRef(requestId), (db) =>
    syncLocked(deps, db, requestId),
  );
}

async function syncLocked(deps: ActionMessageDeps, db: pg.PoolClient, requestId: number): Promise<void> {
  const limits = deps.config.slack.rateLimits;
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
    try {
      await deps.limiter.run('chat.update', limits.update, () =>
        deps.slack.update({ channel: request.channelId, ts: request.messageTs!, ...message }),
      );
    } catch (err) {
      // Someone deleted the approval message: post it again, where its buttons can be clicked.
      if (!(err instanceof SlackRejectedError && err.slackError === 'message_not_found')) throw err;
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
