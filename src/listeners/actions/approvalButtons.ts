import { findAction } from '../../actions/catalog.js';
import { ApprovalError } from '../../approvals/errors.js';
import { checkApprover } from '../../approvals/policy.js';
import { castVote } from '../../approvals/requests.js';
import { addLogContext } from '../../observability/logContext.js';
import { requestRef } from '../../primitives/ids.js';
import { enqueueAction } from '../../queues/actionJobs.js';
import { enqueueActionMessageSync } from '../../queues/queues.js';
import { readIncidentId } from '../../views/modals.js';
import { isClickOn } from '../clicks.js';
import type { ListenerDeps } from '../deps.js';
import { type Click, explain, tellClicker } from '../replies.js';
import type { Listeners } from '../router.js';

/** Approve and Reject on an action request's approval message. */
export const APPROVAL_BUTTONS = { approve: 'action_approve', reject: 'action_reject' } as const;

export function registerApprovalButtons(listeners: Listeners, deps: ListenerDeps): void {
  const vote =
    (decision: 'approve' | 'reject') =>
    async ({ ack, body, action }: { ack: () => Promise<void>; body: unknown; action: unknown }) => {
      await ack();
      const click = body as Click;
      const tell = (text: string) => tellClicker(deps.slack, click, text);
      try {
        const id = readIncidentId((action as { value?: string }).value);
        if (id === undefined)
          throw new ApprovalError('REQUEST_NOT_FOUND', 'This button does not name an action request.');
        const outcome = await castVote(deps.pool, id, click.user.id, decision, (request) => {
          if (!isClickOn(click, { channelId: request.channelId, ts: request.messageTs })) {
            throw new ApprovalError(
              'NOT_FROM_MESSAGE',
              request.messageTs === null
                ? `${requestRef(id)}'s approval message is not posted yet; vote on it once it shows.`
                : `This click does not come from ${requestRef(id)}'s approval message, so it does not count: vote on that message.`,
            );
          }
          const definition = findAction(deps.config, request.service, request.action);
          if (!definition)
            throw new ApprovalError(
              'NOT_APPROVER',
              `${requestRef(id)}'s action is no longer in the catalog.`,
            );
          checkApprover(
            definition.approval,
            { requestedBy: request.requestedBy, ref: requestRef(id) },
            click.user.id,
            deps.membership,
          );
        });
        deps.metrics.approvalVotes.inc({ decision });
        if (outcome.request.incidentId !== null) addLogContext({ incidentId: outcome.request.incidentId });
        if (outcome.decided === 'approved') await enqueueAction(deps.actions, { kind: 'run', requestId: id });
        await enqueueActionMessageSync(deps.slackSync, id, outcome.request.version);
        // Told at once: the approval message shows it too, but its update waits its turn for Slack's
        // chat.update budget (50 a minute), which a wave of votes spends.
        await tell(
          outcome.decided === 'recorded'
            ? `Your approval of ${requestRef(id)} is recorded: ${outcome.approvals} of ${outcome.request.requiredApprovals}.`
            : outcome.decided === 'approved'
              ? `You approved ${requestRef(id)}: it runs now, and its approval message shows how it goes.`
              : `You rejected ${requestRef(id)}: it will not run.`,
        );
      } catch (err) {
        // The answer for the clicker alone: why their vote did not count.
        await tell(err instanceof ApprovalError ? err.message : explain(err, '', deps.logger));
      }
    };
  listeners.action(APPROVAL_BUTTONS.approve, vote('approve'));
  listeners.action(APPROVAL_BUTTONS.reject, vote('reject'));
}
