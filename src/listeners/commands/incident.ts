import { INCIDENT_HELP, type IncidentCommand, parseIncidentCommand } from '../../commands/incidentCommand.js';
import { type CommandReply, runIncidentCommand, usageFor } from '../../commands/incidentHandlers.js';
import { settledWithin } from '../../primitives/withTimeout.js';
import { postToResponseUrl } from '../../slack/responseUrl.js';
import type { ListenerDeps } from '../deps.js';
import { ACK_DEADLINE_MS } from '../envelope.js';
import { commandText, ephemeral, explain } from '../replies.js';
import type { Listeners } from '../router.js';

// Past this, the command is acknowledged and its answer follows on its response_url: a silence waits for
// Alertmanager, up to alertmanager.timeout for each peer, longer than Slack's 3 s.
const ANSWER_IN_ACK_WITHIN_MS = ACK_DEADLINE_MS - 1000;

/**
 * /incident: the answer goes in the acknowledgement, or a form opens (Slack allows that within 3 s). A
 * command still working when the acknowledgement is due is acknowledged as such, then answered.
 */
export function registerIncidentCommand(listeners: Listeners, deps: ListenerDeps): void {
  listeners.command('/incident', async ({ command, ack }) => {
    let parsed: IncidentCommand | undefined;
    let acked = false;
    const answer = async (reply: Parameters<typeof ephemeral>[0]) => {
      if (!acked) return ack(ephemeral(reply));
      await postToResponseUrl(command.response_url, ephemeral(reply)).catch((err: unknown) =>
        deps.logger.warn({ err }, "the command's late answer did not reach its response_url"),
      );
    };
    try {
      parsed = parseIncidentCommand(commandText(command, INCIDENT_HELP));
      const running = runIncidentCommand(deps, parsed, {
        userId: command.user_id,
        channelId: command.channel_id,
        triggerId: command.trigger_id,
      });
      const reply = await settledWithin(running, ANSWER_IN_ACK_WITHIN_MS);
      if (reply === undefined) {
        acked = true;
        await ack(ephemeral('Working on it: the answer follows here.'));
      }
      const done: CommandReply = reply ?? (await running);
      if ('modal' in done) {
        // Acknowledged first, as Slack wants before the form: a form that does not open is told on the
        // response_url.
        if (!acked) {
          acked = true;
          await ack();
        }
        await deps.slack.openView(command.trigger_id, done.modal);
        return;
      }
      await answer(done.ephemeral);
    } catch (err) {
      await answer(explain(err, usageFor(parsed, err), deps.logger));
    }
  });
}
