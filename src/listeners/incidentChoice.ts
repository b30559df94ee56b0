import {
  ACTION_USAGE,
  HEALTH_USAGE,
  parseActionCommand,
  parseHealthCommand,
} from '../commands/actionCommand.js';
import { type ActionContext, runActionCommand } from '../commands/actionHandlers.js';
import { runHealthCommand } from '../commands/healthHandlers.js';
import { CommandUsageError } from '../commands/incidentCommand.js';
import { type CommandAnswer, isChoice } from '../commands/incidentOfCommand.js';
import { IncidentError } from '../incidents/errors.js';
import { addLogContext } from '../observability/logContext.js';
import type { SlackMessage } from '../render/blockKit.js';
import { incidentChoiceMessage, readChoiceValue } from '../views/incidentChoice.js';
import type { ListenerDeps } from './deps.js';
import { type Click, commandText, ephemeral, explain, tellClicker } from './replies.js';
import type { Listeners } from './router.js';

/**
 * /action and /health, which belong to an incident: typed in a channel with several open incidents they
 * ask which one, with a button per incident, and the button runs the command for it, as its clicker,
 * checked again from scratch.
 */
export const INCIDENT_CHOICE_BUTTONS = {
  '/action': 'action_for_incident',
  '/health': 'health_for_incident',
} as const;

type ChoosingCommand = keyof typeof INCIDENT_CHOICE_BUTTONS;

const COMMANDS: Record<
  ChoosingCommand,
  { usage: string; run: (deps: ListenerDeps, text: string, ctx: ActionContext) => Promise<CommandAnswer> }
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

/** What to tell the person when it goes wrong: their mistake with its usage, or ours. */
const explainFor = (err: unknown, usage: string, deps: ListenerDeps) =>
  explain(err, err instanceof CommandUsageError ? err.usage : usage, deps.logger);

/** A command's answer as its typist sees it: the sentence, or the question with its buttons. */
function commandReply(
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

/** The slash command: acknowledged with its answer (the rest is queued), or with the question. */
export function registerChoosingCommand(
  listeners: Listeners,
  deps: ListenerDeps,
  name: ChoosingCommand,
): void {
  const { usage, run } = COMMANDS[name];
  listeners.command(name, async ({ command, ack }) => {
    try {
      const text = command.text ?? '';
      const triggerId = command.trigger_id;
      const ctx = { userId: command.user_id, channelId: command.channel_id, triggerId };
      await ack(ephemeral(commandReply(await run(deps, text, ctx), { command: name, text, triggerId })));
    } catch (err) {
      await ack(ephemeral(explainFor(err, usage, deps)));
    }
  });
}

export function registerIncidentChoiceButtons(listeners: Listeners, deps: ListenerDeps): void {
  for (const [name, actionId] of Object.entries(INCIDENT_CHOICE_BUTTONS) as Array<
    [ChoosingCommand, string]
  >) {
    const { usage, run } = COMMANDS[name];
    listeners.action(actionId, async ({ ack, body, action }) => {
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
        await tellClicker(deps.slack, click, explainFor(err, usage, deps));
      }
    });
  }
}
