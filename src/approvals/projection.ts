import type pg from 'pg';
import { type ActionCatalog, findAction } from '../actions/catalog.js';
import type { TemplateSet } from '../render/templates.js';
import type { SlackConfig } from '../slack/configSchema.js';
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

/** Posts or updates the approval message so that it shows the request's current version. */
export async function syncActionMessage(deps: ActionMessageDeps, requestId: number): Promise<void> {
  const request = await loadRequest(deps.pool, requestId);
  if (request.messageTs && request.messageVersion >= request.version) return;
  const votes = await loadVotes(deps.pool, requestId);
  const message = deps.templates.renderMessage(
    'action-request',
    actionRequestView(request, findAction(deps.config, request.service, request.action), votes),
  );
  const limits = deps.config.slack.rateLimits;
  if (!request.messageTs) {
    const posted = await deps.limiter.run(
      `chat.postMessage:${request.channelId}`,
      limits.postMessagePerChannel,
      () =>
        deps.slack.postMessage({
          channel: request.channelId,
          ...message,
          ...(request.threadTs ? { threadTs: request.threadTs } : {}),
        }),
    );
    await deps.pool.query('UPDATE action_requests SET message_ts = $2, message_version = $3 WHERE id = $1', [
      requestId,
      posted.ts,
      request.version,
    ]);
    return;
  }
  await deps.limiter.run('chat.update', limits.update, () =>
    deps.slack.update({ channel: request.channelId, ts: request.messageTs!, ...message }),
  );
  await deps.pool.query(
    'UPDATE action_requests SET message_version = GREATEST(message_version, $2) WHERE id = $1',
    [requestId, request.version],
  );
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
