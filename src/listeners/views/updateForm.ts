import type { App } from '@slack/bolt';
import { usageFor } from '../../commands/incidentHandlers.js';
import { IncidentError } from '../../incidents/errors.js';
import { postStatusUpdate } from '../../incidents/lifecycle.js';
import { addLogContext } from '../../observability/logContext.js';
import { readIncidentId, readUpdateSubmission, UPDATE_MODAL } from '../../views/modals.js';
import type { ListenerDeps } from '../deps.js';
import { explain } from '../replies.js';

/** The status update form: a problem with a field is shown under it; others close the form with a note. */
export function registerUpdateForm(app: App, deps: ListenerDeps): void {
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
        errors: { text: explain(err, usageFor({ name: 'update' }, err), deps.logger).split('\n')[0]! },
      });
    }
  });
}
