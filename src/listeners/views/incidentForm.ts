import { IncidentError } from '../../incidents/errors.js';
import { loadIncident } from '../../incidents/incidentStore.js';
import { addLogContext } from '../../observability/logContext.js';
import { mentionedUsers, plainFromMrkdwn } from '../../render/mrkdwn.js';
import { readIncidentId, type Submission } from '../../views/modals.js';
import type { ListenerDeps } from '../deps.js';
import { explain } from '../replies.js';
import type { Listeners } from '../router.js';

/**
 * A form about one incident (its id in private_metadata). A problem with a field is shown under that
 * field; a refusal of the whole form under `errorField`; a form Slack delivers twice closes quietly.
 * `afterAck` is work too slow for Slack's 3 seconds (a call to Alertmanager): it runs once the form has
 * closed, and what it answers, or why it failed, goes to the person in the incident's channel.
 */
export function registerIncidentForm<T>(
  listeners: Listeners,
  deps: ListenerDeps,
  form: {
    callbackId: string;
    read: (values: never) => Submission<T>;
    errorField: string;
    usage: (err: unknown) => string;
    act: (id: number, input: T, by: string, requestKey: string) => Promise<unknown>;
    afterAck?: (id: number, input: T, by: string, requestKey: string) => Promise<string | undefined>;
  },
): void {
  listeners.view(form.callbackId, async ({ ack, view, body }) => {
    const submission = form.read(view.state.values as never);
    if (!submission.ok) return ack({ response_action: 'errors', errors: submission.errors });
    const id = readIncidentId(view.private_metadata);
    try {
      if (id === undefined)
        throw new IncidentError('INCIDENT_NOT_FOUND', 'This form does not name an incident.');
      addLogContext({ incidentId: id });
      await form.act(id, submission.input, body.user.id, `view:${view.id}`);
    } catch (err) {
      if (err instanceof IncidentError && err.code === 'ALREADY_HANDLED') return ack();
      const text = explain(err, form.usage(err), deps.logger).split('\n')[0]!;
      return ack({
        response_action: 'errors',
        errors: { [form.errorField]: fieldErrorText(deps, text, body.user.id) },
      });
    }
    // Done, however the acknowledgement fares (a Socket Mode socket closing under it): what follows is
    // part of what the person asked, and a form they send again closes quietly (ALREADY_HANDLED).
    await ack().catch((err: unknown) =>
      deps.logger.warn({ err }, "a form's acknowledgement did not reach Slack; what it asked is done"),
    );
    if (!form.afterAck) return;
    let outcome: string | undefined;
    try {
      outcome = await form.afterAck(id, submission.input, body.user.id, `view:${view.id}`);
    } catch (err) {
      // A replay of work already done says nothing more.
      if (err instanceof IncidentError && err.code === 'ALREADY_HANDLED') return;
      outcome = explain(err, '', deps.logger);
    }
    if (outcome) await tellInIncidentChannel(deps, id, body.user.id, outcome);
  });
}

/**
 * A refusal as a field's error, which Slack shows as plain text, markup and all: dates in UTC, the one
 * who submitted as "you", others by the names already known (each sender's is learned after their
 * request), else by id: the acknowledgement does not wait on Slack. Those shown by id are named next time.
 */
function fieldErrorText(deps: ListenerDeps, mrkdwn: string, submitter: string): string {
  const others = mentionedUsers(mrkdwn).filter((id) => id !== submitter);
  const names = deps.people.known(others);
  deps.people.warm(others);
  return plainFromMrkdwn(mrkdwn, (id) => (id === submitter ? 'you' : (names.get(id) ?? id)));
}

/** Tells one person, in the incident's channel (the default channel until it has one of its own). */
async function tellInIncidentChannel(deps: ListenerDeps, id: number, user: string, text: string) {
  const incident = await loadIncident(deps.pool, id).catch(() => undefined);
  const channel = incident?.channelId ?? deps.config.slack.defaultChannel;
  await deps.slack.postEphemeral({ channel, user, text }).catch((err: unknown) => {
    deps.logger.warn({ err, incidentId: id }, 'could not tell the person how their form ended');
  });
}
