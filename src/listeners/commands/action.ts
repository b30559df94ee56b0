import type { App } from '@slack/bolt';
import { ACTION_USAGE, parseActionCommand } from '../../commands/actionCommand.js';
import { runActionCommand } from '../../commands/actionHandlers.js';
import { CommandUsageError } from '../../commands/incidentCommand.js';
import { commandReply } from '../actions/incidentChoiceButtons.js';
import type { ListenerDeps } from '../deps.js';
import { commandText, ephemeral, explain } from '../replies.js';

/** /action: a request, a list or a cancel; acknowledged with the answer, the rest is queued. */
export function registerActionCommand(app: App, deps: ListenerDeps): void {
  app.command('/action', async ({ command, ack }) => {
    try {
      const answer = await runActionCommand(deps, parseActionCommand(commandText(command, ACTION_USAGE)), {
        userId: command.user_id,
        channelId: command.channel_id,
        triggerId: command.trigger_id,
      });
      const reply = { command: '/action', text: command.text ?? '', triggerId: command.trigger_id } as const;
      await ack(ephemeral(commandReply(answer, reply)));
    } catch (err) {
      const usage = err instanceof CommandUsageError ? err.usage : ACTION_USAGE;
      await ack(ephemeral(explain(err, usage, deps.logger)));
    }
  });
}
