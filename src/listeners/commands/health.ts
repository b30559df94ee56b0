import type { App } from '@slack/bolt';
import { HEALTH_USAGE, parseHealthCommand } from '../../commands/actionCommand.js';
import { runHealthCommand } from '../../commands/healthHandlers.js';
import { commandReply } from '../actions/incidentChoiceButtons.js';
import type { ListenerDeps } from '../deps.js';
import { commandText, ephemeral, explain } from '../replies.js';

/** /health [service]: the checks run as a queued job that posts its results here. */
export function registerHealthCommand(app: App, deps: ListenerDeps): void {
  app.command('/health', async ({ command, ack }) => {
    try {
      const answer = await runHealthCommand(deps, parseHealthCommand(commandText(command, HEALTH_USAGE)), {
        userId: command.user_id,
        channelId: command.channel_id,
        triggerId: command.trigger_id,
      });
      const reply = { command: '/health', text: command.text ?? '', triggerId: command.trigger_id } as const;
      await ack(ephemeral(commandReply(answer, reply)));
    } catch (err) {
      await ack(ephemeral(explain(err, HEALTH_USAGE, deps.logger)));
    }
  });
}
