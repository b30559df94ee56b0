import { ApprovalError } from '../approvals/errors.js';
import { CommandUsageError } from '../commands/incidentCommand.js';
import { isTransientDbError, PoolBusyError } from '../db/pool.js';
import { IncidentError } from '../incidents/errors.js';
import type { Logger } from '../observability/logger.js';
import { PlaybookError } from '../playbooks/errors.js';
import { isStorableText, UNSTORABLE_TEXT } from '../primitives/text.js';
import { isTransientQueueError } from '../queues/queues.js';
import type { SlackMessage } from '../render/blockKit.js';
import { unescapeMrkdwn } from '../render/mrkdwn.js';
import { SilenceError } from '../silences/silences.js';
import type { SlackApi } from '../slack/slackApi.js';

/**
 * How listeners answer: every request is acknowledged within Slack's 3 seconds, with the answer in the
 * acknowledgement where Slack allows one (commands, forms); a click's answer goes to the clicker alone.
 */

export const ephemeral = (reply: SlackMessage | string) =>
  typeof reply === 'string'
    ? { response_type: 'ephemeral' as const, text: reply }
    : { response_type: 'ephemeral' as const, ...reply };

/**
 * A slash command's text as typed (Slack sends &, < and > escaped), for every command: text PostgreSQL
 * cannot store is refused here, before any of it is parsed.
 */
export function commandText(command: { text?: string }, usage: string): string {
  const text = unescapeMrkdwn(command.text ?? '');
  if (!isStorableText(text))
    throw new CommandUsageError(`The command text ${UNSTORABLE_TEXT}: type it again without it.`, usage);
  return text;
}

/** What to tell the person when something goes wrong: their mistake with usage, or ours without details. */
export function explain(err: unknown, usage: string, logger: Logger): string {
  if (
    err instanceof CommandUsageError ||
    err instanceof IncidentError ||
    err instanceof ApprovalError ||
    err instanceof SilenceError ||
    err instanceof PlaybookError
  ) {
    return usage ? `${err.message}\nUsage: \`${usage}\`` : err.message;
  }
  // A passing outage, not a bug: the person can do something about it, which is to wait.
  if (err instanceof PoolBusyError) {
    logger.warn({ err }, 'Slack request failed: every database connection stayed busy');
    return 'The bot is too busy to answer right now: all its database connections are in use. Try again in a moment; if you were changing something, check first whether it took.';
  }
  if (isTransientDbError(err) || isTransientQueueError(err)) {
    logger.warn({ err }, 'Slack request failed: a store is unreachable');
    return `${isTransientDbError(err) ? 'The database (PostgreSQL)' : 'The job queue (Redis)'} is not answering right now. Try again in a minute; if you were changing something, check first whether it took.`;
  }
  logger.error({ err }, 'Slack request failed');
  return 'Something went wrong on our side. Check the state in Slack before trying again.';
}

/** A click as the listeners read it: the envelope check (listeners/envelope.ts) vouches for these. */
export interface Click {
  trigger_id: string;
  user: { id: string };
  channel?: { id: string };
  container?: { channel_id?: string; message_ts?: string; thread_ts?: string };
  message?: { ts?: string; thread_ts?: string };
}

/**
 * The thread the clicked message is a reply in. A thread's parent carries its own ts as thread_ts: a
 * click on it is answered in the channel, where the parent is seen.
 */
function threadOfClick(click: Click): string | undefined {
  const thread = click.message?.thread_ts ?? click.container?.thread_ts;
  return thread !== (click.message?.ts ?? click.container?.message_ts) ? thread : undefined;
}

/**
 * Tells the clicker alone, where the click was: in the thread of a message replying in one, else in the
 * channel; a click from nowhere has no one to tell.
 */
export async function tellClicker(slack: SlackApi, click: Click, text: string): Promise<void> {
  if (!click.channel?.id) return;
  const threadTs = threadOfClick(click);
  await slack
    .postEphemeral({
      channel: click.channel.id,
      user: click.user.id,
      text,
      ...(threadTs ? { threadTs } : {}),
    })
    .catch(() => {});
}
