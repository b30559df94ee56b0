import type { App } from '@slack/bolt';
import {
  ACTION_USAGE,
  HEALTH_USAGE,
  parseActionCommand,
  parseHealthCommand,
} from '../../commands/actionCommand.js';
import { runActionCommand } from '../../commands/actionHandlers.js';
import { runHealthCommand } from '../../commands/healthHandlers.js';
import { CommandUsageError } from '../../commands/incidentCommand.js';
import { type CommandAnswer, isChoice } from '../../commands/incidentOfCommand.js';
import { IncidentError } from '../../incidents/errors.js';
import { addLogContext } from '../../observability/logContext.js';
import type { SlackMessage } from '../../render/blockKit.js';
import { incidentChoiceMessage, readChoiceValue } from '../../views/incidentChoice.js';
import type { ListenerDeps } from '../deps.js';
import { type Click, commandText, explain, tellClicker } from '../replies.js';

/**
 * /action and /health typed in a channel with several open incidents ask which one they are for, with a
 * button per incident; the button runs the command for it, as its typist, checked again from scratch.
 */
export const INCIDENT_CHOICE_BUTTONS = {
  '/action': 'action_for_incident',
  '/health': 'health_for_incident',
} as const;

type ChoosingCommand = keyof typeof INCIDENT_CHOICE_BUTTONS;

/** A command's answer as its typist sees it: the sentence, or the question with its buttons. */
export function commandReply(
  answer: CommandAnswer,
  command: { command: ChoosingCommand; text: string; triggerId: string },
): SlackMessage | string {
  if (!isChoice(answer)) return answer;
  return (
    incidentChoiceMessage({
      ...command,
      actionId: INCIDENT_CHOICE_BUTTONS[command.command],
      ...answer.choose,
    }) ??
    'Several incidents are open in this channel, and this command is too long to carry on a button that chooses one. Shorten it, or type it in the channel of the incident it is for.'
  );
}

const RUN: Record<
  ChoosingCommand,
  {
    usage: string;
    run: (
      deps: ListenerDeps,
      text: string,
      ctx: Parameters<typeof runActionCommand>[2],
    ) => Promise<CommandAnswer>;
  }
> = {
  '/action': {
    usage: ACTION_USAGE,
    run: (deps, text, ctx) =>
      runActionCommand(deps, parseActionCommand(commandText({ text }, ACTION_USAGE)), ctx),
  },
  '/health': {
    usage: HEALTH_USAGE,
    run: (deps, text, ctx) =>
      runHealthCommand(deps, parseHealthCommand(commandText({ text }, HEALTH_USAGE)), ctx),
  },
};

export function registerIncidentChoiceButtons(app: App, deps: ListenerDeps): void {
  for (const [command, actionId] of Object.entries(INCIDENT_CHOICE_BUTTONS) as Array<
    [ChoosingCommand, string]
  >) {
    const { usage, run } = RUN[command];
    app.action(actionId, async ({ ack, body, action }) => {
      await ack();
      const click = body as unknown as Click;
      try {
        const choice = readChoiceValue((action as { value?: string }).value);
        const channelId = click.channel?.id;
        if (!choice || !channelId)
          throw new IncidentError('INCIDENT_NOT_FOUND', 'This button does not name an incident.');
        addLogContext({ incidentId: choice.incident });
        // Claimed by the command's trigger_id: a second click, on this incident or another, runs nothing.
        const answer = await run(deps, choice.text, {
          userId: click.user.id,
          channelId,
          triggerId: choice.trigger,
          incidentId: choice.incident,
        });
        // A chosen incident is never asked about again: the answer is a sentence.
        if (typeof answer === 'string') await tellClicker(deps.slack, click, answer);
      } catch (err) {
        await tellClicker(
          deps.slack,
          click,
          explain(err, err instanceof CommandUsageError ? err.usage : usage, deps.logger),
        );
      }
    });
  }
}
