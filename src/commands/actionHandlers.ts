import type { Queue } from 'bullmq';
import type pg from 'pg';
import { type ActionCatalog, findAction } from '../actions/catalog.js';
import { optionParamsOf } from '../actions/drivers/index.js';
import { validateParams } from '../actions/params.js';
import { openActionRequest } from '../approvals/openRequest.js';
import { checkRequester, type Membership } from '../approvals/policy.js';
import { cancelRequest, listWaitingOrRunning, REQUESTS_LISTED_CHANNEL } from '../approvals/requests.js';
import { KeptRead } from '../db/keptRead.js';
import { requestRef } from '../primitives/ids.js';
import type { ActionJob } from '../queues/actionJobs.js';
import { enqueueActionMessageSync, type SlackSyncJob } from '../queues/queues.js';
import { quoted } from '../render/mrkdwn.js';
import { ACTION_HELP, ACTION_USAGE, type ActionCommand } from './actionCommand.js';
import { CommandUsageError } from './incidentCommand.js';
import { type CommandAnswer, incidentOfCommand, isChoice } from './incidentOfCommand.js';

/** How many requests /action list shows. */
const LIST_LIMIT = 40;

/** What /action list answers, kept while no request waiting or running changes. */
export type KeptRequestList = KeptRead<string>;

export const keptRequestList = (): KeptRequestList =>
  new KeptRead(REQUESTS_LISTED_CHANNEL, '/action list is answered from memory', 'every /action list is read');

export interface ActionCommandDeps {
  pool: pg.Pool;
  /** Asked by every /action list, the requests waiting or running change far less often. */
  requestList: KeptRequestList;
  config: ActionCatalog;
  actions: Queue<ActionJob>;
  slackSync: Queue<SlackSyncJob>;
  membership: Membership;
}

export interface ActionContext {
  userId: string;
  channelId: string;
  /** Slack's id for this one invocation: a replay of it changes nothing twice. */
  triggerId: string;
  /** The incident its typist chose among the channel's open ones (a choice button). */
  incidentId?: number;
}

function describeParams(catalog: ActionCatalog, service: string, action: string): string {
  const definition = findAction(catalog, service, action)!;
  const params = Object.entries(definition.params).map(([name, spec]) => {
    if (spec.type === 'integer')
      return `${name}=<whole number${spec.min !== undefined ? ` ≥ ${spec.min}` : ''}${spec.max !== undefined ? ` ≤ ${spec.max}` : ''}>`;
    if (spec.type === 'boolean') return `${name}=true|false`;
    return `${name}=${spec.enum ? spec.enum.join('|') : '<text>'}`;
  });
  return `/action ${action} ${service}${params.length ? ` ${params.join(' ')}` : ''}`;
}

/**
 * Carries out /action; throws CommandUsageError or ApprovalError for the caller to explain. Returns the
 * answer, or the question of which incident a request is for when several are open in the channel.
 */
export async function runActionCommand(
  deps: ActionCommandDeps,
  command: ActionCommand,
  ctx: ActionContext,
): Promise<CommandAnswer> {
  switch (command.name) {
    case 'help':
      return ACTION_HELP;
    case 'list':
      return deps.requestList.read(async () => {
        const listed = await listWaitingOrRunning(deps.pool, LIST_LIMIT);
        if (listed.length === 0) return 'No action requests are waiting or running.';
        return listed
          .map(
            (r) =>
              `• *${requestRef(r.id)}* ${r.action} on ${r.service}: ${r.status} (requested by <@${r.requestedBy}>)`,
          )
          .join('\n');
      });
    case 'cancel': {
      const request = await cancelRequest(
        deps.pool,
        command.requestId,
        ctx.userId,
        `command:${ctx.triggerId}`,
      );
      await enqueueActionMessageSync(deps.slackSync, request.id, request.version);
      return `Cancelled ${requestRef(request.id)}.`;
    }
    case 'request': {
      const service = deps.config.services[command.service];
      if (!service) {
        const known = Object.keys(deps.config.services);
        throw new CommandUsageError(
          `Unknown service ${quoted(command.service)}.${known.length ? ` Known: ${known.join(', ')}.` : ''}`,
          ACTION_USAGE,
        );
      }
      const definition = findAction(deps.config, command.service, command.action);
      if (!definition) {
        const known = service.actions.map((a) => a.name);
        throw new CommandUsageError(
          `${command.service} has no action ${quoted(command.action)}.${known.length ? ` Its actions: ${known.join(', ')}.` : ''}`,
          ACTION_USAGE,
        );
      }
      // From the members last read: the answer waits for no Slack call.
      checkRequester(definition, command.service, ctx.userId, deps.membership);
      const checked = validateParams(definition.params, command.params, optionParamsOf(definition.driver));
      if (!checked.ok) {
        throw new CommandUsageError(
          `${checked.problems.join('; ')}.`,
          describeParams(deps.config, command.service, command.action),
        );
      }
      const incident = await incidentOfCommand(deps.pool, ctx);
      if (isChoice(incident)) return incident;
      const { said } = await openActionRequest(deps, {
        definition,
        service: command.service,
        params: checked.params,
        requestedBy: ctx.userId,
        channelId: ctx.channelId,
        ...(incident ? { incident } : {}),
        requestKey: `command:${ctx.triggerId}`,
      });
      return said;
    }
  }
}
