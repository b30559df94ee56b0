import type pg from 'pg';
import { type ActionRequest, loadRequest, loadVotes, requestRef, type Vote } from '../approvals/requests.js';
import type { ActionDefinition } from '../config/catalog.js';
import type { FileConfig } from '../config/file.js';
import { incidentRef } from '../incidents/incidentStore.js';
import { truncateForMrkdwn } from '../render/mrkdwn.js';
import type { TemplateSet } from '../render/templates.js';
import type { SlackRateLimiter } from './rateLimiter.js';
import type { SlackApi } from './slackApi.js';

/**
 * An action request's approval message is a projection of its row, like an incident's root message:
 * posted once (in the incident's thread when there is one), then updated at every step.
 */

const STATUS: Record<ActionRequest['status'], string> = {
  pending: '⏳ Waiting for approval',
  approved: '👍 Approved, queued to run',
  running: '⚙️ Running',
  succeeded: '✅ Succeeded',
  failed: '❌ Failed',
  rejected: '🚫 Rejected',
  expired: '⌛ Expired',
  cancelled: '↩️ Cancelled',
};

export interface ActionRequestView {
  id: number;
  ref: string;
  incidentRef?: string;
  action: string;
  description: string;
  service: string;
  params: Array<{ name: string; value: string }>;
  requestedBy: string;
  status: string;
  open: boolean;
  votable: boolean;
  dryRun?: { running: boolean; ok: boolean; output: string };
  approvers: string[];
  required: number;
  selfApproval: boolean;
  expiresAt: string;
  approvedBy: string[];
  rejectedBy: string[];
  outcome?: { summary: string; output: string };
}

/** Output goes in a code block: a ``` inside it would end the block early. */
const codeSafe = (text: string, max: number) =>
  truncateForMrkdwn(text.replace(/```/g, "'''").trim() || '(no output)', max);

export function actionRequestView(
  request: ActionRequest,
  definition: ActionDefinition | undefined,
  votes: Vote[],
): ActionRequestView {
  const policy = definition?.approval;
  return {
    id: request.id,
    ref: requestRef(request.id),
    ...(request.incidentId !== null ? { incidentRef: incidentRef(request.incidentId) } : {}),
    action: request.action,
    description: truncateForMrkdwn(definition?.description ?? '(no longer in the catalog)', 300),
    service: request.service,
    params: Object.entries(request.params).map(([name, value]) => ({
      name,
      value: truncateForMrkdwn(String(value), 200),
    })),
    requestedBy: request.requestedBy,
    status: STATUS[request.status],
    open: request.status === 'pending',
    votable: request.status === 'pending' && request.dryRunStatus !== 'running',
    ...(request.dryRunStatus !== 'none'
      ? {
          dryRun: {
            running: request.dryRunStatus === 'running',
            ok: request.dryRunStatus === 'ok',
            output: codeSafe(request.dryRunOutput ?? '', 1200),
          },
        }
      : {}),
    approvers: policy?.approvers ?? [],
    required: request.requiredApprovals,
    selfApproval: policy?.allowSelfApproval ?? false,
    expiresAt: request.expiresAt.toISOString(),
    approvedBy: votes.filter((v) => v.decision === 'approve').map((v) => v.userId),
    rejectedBy: votes.filter((v) => v.decision === 'reject').map((v) => v.userId),
    ...(request.summary !== null
      ? {
          outcome: {
            summary: truncateForMrkdwn(request.summary, 300),
            output: codeSafe(request.output ?? '', 1200),
          },
        }
      : {}),
  };
}

export interface ActionMessageDeps {
  pool: pg.Pool;
  slack: SlackApi;
  limiter: SlackRateLimiter;
  templates: TemplateSet;
  config: FileConfig;
}

export function findAction(
  config: FileConfig,
  service: string,
  action: string,
): ActionDefinition | undefined {
  return config.services[service]?.actions.find((a) => a.name === action);
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
