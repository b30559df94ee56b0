import { incidentRef, requestRef } from '../primitives/ids.js';
import { truncateForMrkdwn, visibleText } from '../render/mrkdwn.js';

/** What an action request's approval message shows (template `action-request`). */

const STATUS = {
  pending: '⏳ Waiting for approval',
  approved: '👍 Approved, queued to run',
  running: '⚙️ Running',
  succeeded: '✅ Succeeded',
  failed: '❌ Failed',
  rejected: '🚫 Rejected',
  expired: '⌛ Expired',
  cancelled: '↩️ Cancelled',
};

/** The request's fields the message shows; a status without a label here does not fit. */
export interface ActionRequest {
  id: number;
  incidentId: number | null;
  action: string;
  service: string;
  params: Record<string, unknown>;
  requestedBy: string;
  status: keyof typeof STATUS;
  requiredApprovals: number;
  expiresAt: Date;
  dryRunStatus: 'none' | 'running' | 'ok' | 'failed';
  dryRunOutput: string | null;
  summary: string | null;
  output: string | null;
  refusedChannelId: string | null;
  slackError: string | null;
}

/** One person's vote, as the message lists who approved and who rejected. */
export interface Vote {
  userId: string;
  decision: 'approve' | 'reject';
}

/** What the message tells of the action's catalog entry: absent once the catalog no longer has it. */
export interface ActionDefinition {
  description: string;
  approval: { approvers: string[]; allowSelfApproval: boolean };
}

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
  /** Where it was asked for when Slack would not let the bot post there, and Slack's error. */
  channelRefusal?: { channel: string; slackError: string };
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
      // One line, as it is: a value filled from a label could otherwise draw params of its own.
      value: truncateForMrkdwn(visibleText(String(value)), 200),
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
    ...(request.refusedChannelId !== null
      ? { channelRefusal: { channel: request.refusedChannelId, slackError: request.slackError ?? '' } }
      : {}),
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
