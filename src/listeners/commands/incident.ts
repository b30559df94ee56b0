import type { App } from '@slack/bolt';
import { INCIDENT_HELP, type IncidentCommand, parseIncidentCommand } from '../../commands/incidentCommand.js';
import { runIncidentCommand, usageFor } from '../../commands/incidentHandlers.js';
import type { ListenerDeps } from '../deps.js';
import { commandText, ephemeral, explain } from '../replies.js';

/** /incident: the answer goes in the acknowledgement, or a form opens (Slack allows that within 3 s). */
export function registerIncidentCommand(app: App, deps: ListenerDeps): void {
  app.command('/incident', async ({ command, ack }) => {
    let parsed: IncidentCommand | undefined;
    try {
      parsed = parseIncidentCommand(commandText(command, INCIDENT_HELP));
      const reply = await runIncidentCommand(deps, parsed, {
        userId: command.user_id,
        channelId: command.channel_id,
        triggerId: command.trigger_id,
      });
      if ('modal' in reply) {
        await ack();
        await deps.slack.openView(command.trigger_id, reply.modal);
        return;
      }
      await ack(ephemeral(reply.ephemeral));
    } catch (err) {
      await ack(ephemeral(explain(err, usageFor(parsed, err), deps.logger)));
    }
  });
}
