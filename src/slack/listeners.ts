import type { App } from '@slack/bolt';
import { ApprovalError } from '../approvals/errors.js';
import {
  CommandUsageError,
  INCIDENT_HELP,
  type IncidentCommand,
  parseIncidentCommand,
} from '../commands/incidentCommand.js';
import { type IncidentCommandDeps, runIncidentCommand, usageFor } from '../commands/incidentHandlers.js';
import { ALREADY_HANDLED, onceForSlackRequest } from '../db/slackRequests.js';
import { isStorableText, UNSTORABLE_TEXT } from '../db/text.js';
import { IncidentError } from '../incidents/errors.js';
import { type Incident, incidentRef, loadSnapshot } from '../incidents/incidentStore.js';
import { postStatusUpdate, resolveIncident } from '../incidents/lifecycle.js';
import { addLogContext } from '../observability/logContext.js';
import type { Logger } from '../observability/logger.js';
import type { SlackMessage } from '../render/blockKit.js';
import { unescapeMrkdwn } from '../render/mrkdwn.js';
import { isClickOn } from './clicks.js';
import {
  RESOLVE_MODAL,
  readIncidentId,
  readResolveSubmission,
  readUpdateSubmission,
  resolveModal,
  UPDATE_MODAL,
  updateModal,
} from './modals.js';
import type { SlackApi } from './slackApi.js';

/**
 * Slack's side of the incident commands: every request is acknowledged within Slack's 3 seconds, with the
 * answer in the acknowledgement where Slack allows one. Domain work is a few milliseconds of Postgres;
 * everything that talks to Slack afterwards goes through the queue, except opening a form, which Slack
 * only allows within 3 seconds of the click.
 */

export interface ListenerDeps extends IncidentCommandDeps {
  slack: SlackApi;
  logger: Logger;
}

export const INCIDENT_ACTIONS = {
  postUpdate: 'incident_post_update',
  resolve: 'incident_resolve',
  postmortem: 'incident_postmortem',
} as const;

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
  if (err instanceof CommandUsageError || err instanceof IncidentError || err instanceof ApprovalError) {
    return usage ? `${err.message}\nUsage: \`${usage}\`` : err.message;
  }
  logger.error({ err }, 'Slack request failed');
  return 'Something went wrong on our side. Check the state in Slack before trying again.';
}

export function registerIncidentListeners(app: App, deps: ListenerDeps): void {
  const { logger } = deps;

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
      await ack(ephemeral(explain(err, usageFor(parsed, err), logger)));
    }
  });

  // Buttons on the root message. Refusals go to the clicker only.
  const refuse = async (body: { user: { id: string }; channel?: { id: string } }, text: string) => {
    if (body.channel?.id)
      await deps.slack.postEphemeral({ channel: body.channel.id, user: body.user.id, text });
  };
  /** The incident a click acts on: the one its value names, if it came from that incident's root message. */
  const buttonIncident = async (click: unknown, value: unknown) => {
    const id = readIncidentId(value);
    if (id === undefined)
      throw new IncidentError('INCIDENT_NOT_FOUND', 'This button does not name an incident.');
    addLogContext({ incidentId: id });
    const snapshot = await loadSnapshot(deps.pool, id, 0);
    if (!snapshot) throw new IncidentError('INCIDENT_NOT_FOUND', `There is no incident ${incidentRef(id)}.`);
    const { incident } = snapshot;
    if (!isClickOn(click, { channelId: incident.channelId, ts: incident.rootTs })) {
      throw new IncidentError(
        'NOT_FROM_MESSAGE',
        `This click does not come from ${incidentRef(id)}'s own message, so it does nothing.`,
      );
    }
    return incident;
  };

  // Post update and Resolve open a form about an open incident; Slack allows that within 3 s of the click.
  const openFormButton = (
    actionId: string,
    command: IncidentCommand,
    form: (incident: Incident) => Record<string, unknown>,
  ) =>
    app.action(actionId, async ({ ack, body, action }) => {
      await ack();
      const click = body as unknown as { trigger_id: string; user: { id: string }; channel?: { id: string } };
      try {
        const incident = await buttonIncident(body, (action as { value?: string }).value);
        if (incident.state === 'resolved') {
          throw new IncidentError('ALREADY_RESOLVED', `${incidentRef(incident.id)} is already resolved.`);
        }
        await deps.slack.openView(click.trigger_id, form(incident));
      } catch (err) {
        await refuse(click, explain(err, usageFor(command, err), logger)).catch(() => {});
      }
    });
  openFormButton(INCIDENT_ACTIONS.postUpdate, { name: 'update' }, (incident) =>
    updateModal({ ...incident, ref: incidentRef(incident.id) }),
  );
  openFormButton(INCIDENT_ACTIONS.resolve, { name: 'resolve', resolution: '' }, (incident) =>
    resolveModal({ id: incident.id, ref: incidentRef(incident.id) }),
  );

  app.action(INCIDENT_ACTIONS.postmortem, async ({ ack, body, action }) => {
    await ack();
    const click = body as unknown as { trigger_id: string; user: { id: string }; channel?: { id: string } };
    try {
      const incident = await buttonIncident(body, (action as { value?: string }).value);
      // Each request posts a new revision: a replayed click must not post another.
      const requested = await onceForSlackRequest(deps.pool, `click:${click.trigger_id}`, () =>
        deps.effects.postmortemRequested(incident.id, click.user.id),
      );
      if (!requested) throw new IncidentError('ALREADY_HANDLED', ALREADY_HANDLED);
      await refuse(
        click,
        `Writing the post-mortem skeleton of ${incidentRef(incident.id)}; it will appear in the thread.`,
      );
    } catch (err) {
      await refuse(click, explain(err, usageFor({ name: 'postmortem' }, err), logger)).catch(() => {});
    }
  });

  // Form submissions. A problem with a field is shown under that field; others close the form with a note.
  app.view(UPDATE_MODAL, async ({ ack, view, body }) => {
    const submission = readUpdateSubmission(view.state.values as never);
    if (!submission.ok) return ack({ response_action: 'errors', errors: submission.errors });
    const id = readIncidentId(view.private_metadata);
    try {
      if (id === undefined)
        throw new IncidentError('INCIDENT_NOT_FOUND', 'This form does not name an incident.');
      addLogContext({ incidentId: id });
      await postStatusUpdate(deps, id, {
        ...submission.input,
        by: body.user.id,
        requestKey: `view:${view.id}`,
      });
      await ack();
    } catch (err) {
      if (err instanceof IncidentError && err.code === 'ALREADY_HANDLED') return ack();
      await ack({
        response_action: 'errors',
        errors: { text: explain(err, usageFor({ name: 'update' }, err), logger).split('\n')[0]! },
      });
    }
  });

  app.view(RESOLVE_MODAL, async ({ ack, view, body }) => {
    const submission = readResolveSubmission(view.state.values as never);
    if (!submission.ok) return ack({ response_action: 'errors', errors: submission.errors });
    const id = readIncidentId(view.private_metadata);
    try {
      if (id === undefined)
        throw new IncidentError('INCIDENT_NOT_FOUND', 'This form does not name an incident.');
      addLogContext({ incidentId: id });
      await resolveIncident(deps, id, submission.input.resolution, body.user.id, `view:${view.id}`);
      await ack();
    } catch (err) {
      if (err instanceof IncidentError && err.code === 'ALREADY_HANDLED') return ack();
      await ack({
        response_action: 'errors',
        errors: { resolution: explain(err, '', logger).split('\n')[0]! },
      });
    }
  });
}
