import type { App } from '@slack/bolt';
import { IncidentError } from '../../incidents/errors.js';
import { addLogContext } from '../../observability/logContext.js';
import { readIncidentId, type Submission } from '../../views/modals.js';
import type { ListenerDeps } from '../deps.js';
import { explain } from '../replies.js';

/**
 * A form about one incident (its id in private_metadata). A problem with a field is shown under that
 * field; a refusal of the whole form under `errorField`; a form Slack delivers twice closes quietly.
 */
export function registerIncidentForm<T>(
  app: App,
  deps: ListenerDeps,
  form: {
    callbackId: string;
    read: (values: never) => Submission<T>;
    errorField: string;
    usage: (err: unknown) => string;
    act: (id: number, input: T, by: string, requestKey: string) => Promise<unknown>;
  },
): void {
  app.view(form.callbackId, async ({ ack, view, body }) => {
    const submission = form.read(view.state.values as never);
    if (!submission.ok) return ack({ response_action: 'errors', errors: submission.errors });
    const id = readIncidentId(view.private_metadata);
    try {
      if (id === undefined)
        throw new IncidentError('INCIDENT_NOT_FOUND', 'This form does not name an incident.');
      addLogContext({ incidentId: id });
      await form.act(id, submission.input, body.user.id, `view:${view.id}`);
      await ack();
    } catch (err) {
      if (err instanceof IncidentError && err.code === 'ALREADY_HANDLED') return ack();
      const text = explain(err, form.usage(err), deps.logger).split('\n')[0]!;
      await ack({ response_action: 'errors', errors: { [form.errorField]: text } });
    }
  });
}
