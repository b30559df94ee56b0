import type { Queue } from 'bullmq';
import type pg from 'pg';
import { ALREADY_HANDLED } from '../db/slackRequests.js';
import { requestHealthChecks } from '../health/requests.js';
import { incidentRef } from '../primitives/ids.js';
import type { HealthJob } from '../queues/healthJobs.js';
import { quoted } from '../render/mrkdwn.js';
import { HEALTH_USAGE } from './actionCommand.js';
import type { ActionContext } from './actionHandlers.js';
import { CommandUsageError } from './incidentCommand.js';
import { type CommandAnswer, incidentOfCommand, isChoice } from './incidentOfCommand.js';

export interface HealthCommandDeps {
  pool: pg.Pool;
  config: { services: Record<string, unknown> };
  health: Queue<HealthJob>;
}

/**
 * Carries out /health [service]: the checks run as a queued job that posts its results where they were
 * asked for, in the thread of the incident the channel's command belongs to when there is one.
 */
export async function runHealthCommand(
  deps: HealthCommandDeps,
  command: { service?: string },
  ctx: ActionContext,
): Promise<CommandAnswer> {
  const known = Object.keys(deps.config.services);
  const { service } = command;
  if (service && !Object.hasOwn(deps.config.services, service)) {
    throw new CommandUsageError(
      `Unknown service ${quoted(service)}. Known: ${known.join(', ') || 'none'}.`,
      HEALTH_USAGE,
    );
  }
  const services = service ? [service] : known;
  if (services.length === 0)
    throw new CommandUsageError('No services are configured (`services` in the config).', HEALTH_USAGE);
  const incident = await incidentOfCommand(deps.pool, ctx);
  if (isChoice(incident)) return incident;
  // In a shared channel the results go in the incident's thread (its root read as they are posted: it may
  // not be in Slack yet); its own channel is the incident's.
  const inThread = incident !== undefined && !incident.ownChannel;
  // The check posts its result: a replay of the command must not post it again.
  const key = `command:${ctx.triggerId}`;
  const queued = await requestHealthChecks(
    deps,
    {
      services,
      channelId: ctx.channelId,
      requestedBy: ctx.userId,
      ...(incident ? { incidentId: incident.id } : {}),
    },
    key,
  );
  if (!queued) return ALREADY_HANDLED;
  const forIncident = incident ? ` for ${incidentRef(incident.id)}` : '';
  return `Running the health checks of ${services.join(', ')}${forIncident}; results follow ${inThread ? 'in its thread' : 'here'}.`;
}
