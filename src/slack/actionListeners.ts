import type { App } from '@slack/bolt';
import type { Queue } from 'bullmq';
import { ApprovalError } from '../approvals/errors.js';
import { checkApprover, type Membership } from '../approvals/policy.js';
import { castVote, requestRef } from '../approvals/requests.js';
import {
  ACTION_USAGE,
  HEALTH_USAGE,
  parseActionCommand,
  parseHealthCommand,
} from '../commands/actionCommand.js';
import { type ActionCommandDeps, runActionCommand } from '../commands/actionHandlers.js';
import { CommandUsageError } from '../commands/incidentCommand.js';
import { ALREADY_HANDLED, onceForSlackRequest } from '../db/slackRequests.js';
import { incidentAtRoot } from '../incidents/incidentStore.js';
import { enqueueAction } from '../jobs/actionJobs.js';
import { enqueueHealthCheck, type HealthJob } from '../jobs/healthJobs.js';
import { enqueueActionMessageSync } from '../jobs/queues.js';
import { addLogContext } from '../observability/logContext.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { quoted } from '../render/mrkdwn.js';
import { findAction } from './actionMessages.js';
import { isClickOn } from './clicks.js';
import { commandText, ephemeral, explain } from './listeners.js';
import { readIncidentId } from './modals.js';
import type { SlackApi } from './slackApi.js';

export interface ActionListenerDeps extends ActionCommandDeps {
  health: Queue<HealthJob>;
  membership: Membership;
  slack: SlackApi;
  metrics: Metrics;
  logger: Logger;
}

export const ACTION_BUTTONS = {
  approve: 'action_approve',
  reject: 'action_reject',
  healthCheck: 'incident_health_check',
} as const;

/** /action, /health and the Approve / Reject buttons. Acknowledged at once; the work is queued. */
export function registerActionListeners(app: App, deps: ActionListenerDeps): void {
  const { logger } = deps;

  app.command('/action', async ({ command, ack }) => {
    try {
      const answer = await runActionCommand(deps, parseActionCommand(commandText(command, ACTION_USAGE)), {
        userId: command.user_id,
        channelId: command.channel_id,
        triggerId: command.trigger_id,
      });
      await ack(ephemeral(answer));
    } catch (err) {
      await ack(ephemeral(explain(err, err instanceof CommandUsageError ? err.usage : ACTION_USAGE, logger)));
    }
  });

  app.command('/health', async ({ command, ack }) => {
    try {
      const { service } = parseHealthCommand(commandText(command, HEALTH_USAGE));
      const services = service ? [service] : Object.keys(deps.config.services);
      if (service && !deps.config.services[service]) {
        throw new CommandUsageError(
          `Unknown service ${quoted(service)}. Known: ${Object.keys(deps.config.services).join(', ') || 'none'}.`,
          HEALTH_USAGE,
        );
      }
      if (services.length === 0)
        throw new CommandUsageError('No services are configured (`services` in the config).', HEALTH_USAGE);
      // The check posts its result: a replay of the command must not post it again.
      const queued = await onceForSlackRequest(deps.pool, `command:${command.trigger_id}`, () =>
        enqueueHealthCheck(deps.health, {
          services,
          channelId: command.channel_id,
          requestedBy: command.user_id,
        }),
      );
      if (!queued) return await ack(ephemeral(ALREADY_HANDLED));
      await ack(ephemeral(`Running the health checks of ${services.join(', ')}; results follow here.`));
    } catch (err) {
      await ack(ephemeral(explain(err, HEALTH_USAGE, logger)));
    }
  });

  const vote =
    (decision: 'approve' | 'reject') =>
    async ({ ack, body, action }: { ack: () => Promise<void>; body: unknown; action: unknown }) => {
      await ack();
      const click = body as { user: { id: string }; channel?: { id: string } };
      const tell = async (text: string) => {
        if (click.channel?.id)
          await deps.slack
            .postEphemeral({ channel: click.channel.id, user: click.user.id, text })
            .catch(() => {});
      };
      try {
        const id = readIncidentId((action as { value?: string }).value);
        if (id === undefined)
          throw new ApprovalError('REQUEST_NOT_FOUND', 'This button does not name an action request.');
        const outcome = await castVote(deps.pool, id, click.user.id, decision, async (request) => {
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
          await checkApprover(
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
        if (outcome.decided === 'recorded') {
          await tell(
            `Your approval of ${requestRef(id)} is recorded: ${outcome.approvals} of ${outcome.request.requiredApprovals}.`,
          );
        }
      } catch (err) {
        // The answer for the clicker alone: why their vote did not count.
        await tell(err instanceof ApprovalError ? err.message : explain(err, '', logger));
      }
    };
  app.action(ACTION_BUTTONS.approve, vote('approve'));
  app.action(ACTION_BUTTONS.reject, vote('reject'));

  // On an incident's root message: its results go to that incident's thread.
  app.action(ACTION_BUTTONS.healthCheck, async ({ ack, body, action }) => {
    await ack();
    const click = body as unknown as {
      trigger_id: string;
      user: { id: string };
      channel?: { id: string };
      message?: { ts?: string };
    };
    const service = (action as { value?: string }).value ?? '';
    const channelId = click.channel?.id;
    const ts = click.message?.ts;
    if (!Object.hasOwn(deps.config.services, service) || !channelId) return;
    const tell = (text: string) =>
      deps.slack.postEphemeral({ channel: channelId, user: click.user.id, text }).catch(() => {});
    try {
      const incident = ts ? await incidentAtRoot(deps.pool, channelId, ts) : undefined;
      if (incident === undefined || !isClickOn(click, { channelId, ts: ts! }))
        return await tell("This click does not come from an incident's own message, so it does nothing.");
      addLogContext({ incidentId: incident });
      const queued = await onceForSlackRequest(deps.pool, `click:${click.trigger_id}`, () =>
        enqueueHealthCheck(deps.health, {
          services: [service],
          channelId,
          requestedBy: click.user.id,
          threadTs: ts!,
        }),
      );
      if (!queued) await tell(ALREADY_HANDLED);
    } catch (err) {
      await tell(explain(err, HEALTH_USAGE, logger));
    }
  });
}
