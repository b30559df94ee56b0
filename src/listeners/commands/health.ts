import type { App } from '@slack/bolt';
import { HEALTH_USAGE, parseHealthCommand } from '../../commands/actionCommand.js';
import { CommandUsageError } from '../../commands/incidentCommand.js';
import { ALREADY_HANDLED, onceForSlackRequest } from '../../db/slackRequests.js';
import { enqueueHealthCheck } from '../../queues/healthJobs.js';
import { quoted } from '../../render/mrkdwn.js';
import type { ListenerDeps } from '../deps.js';
import { commandText, ephemeral, explain } from '../replies.js';

/** /health [service]: the checks run as a queued job that posts its results here. */
export function registerHealthCommand(app: App, deps: ListenerDeps): void {
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
      const key = `command:${command.trigger_id}`;
      const queued = await onceForSlackRequest(deps.pool, key, () =>
        enqueueHealthCheck(
          deps.health,
          { services, channelId: command.channel_id, requestedBy: command.user_id },
          key,
        ),
      );
      if (!queued) return await ack(ephemeral(ALREADY_HANDLED));
      await ack(ephemeral(`Running the health checks of ${services.join(', ')}; results follow here.`));
    } catch (err) {
      await ack(ephemeral(explain(err, HEALTH_USAGE, deps.logger)));
    }
  });
}
