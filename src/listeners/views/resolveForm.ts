import type { App } from '@slack/bolt';
import { IncidentError } from '../../incidents/errors.js';
import { resolveIncident } from '../../incidents/lifecycle.js';
import { addLogContext } from '../../observability/logContext.js';
import { RESOLVE_MODAL, readIncidentId, readResolveSubmission } from '../../views/modals.js';
import type { ListenerDeps } from '../deps.js';
import { explain } from '../replies.js';

/** The resolve form: a problem is shown under its one field. */
export function registerResolveForm(app: App, deps: ListenerDeps): void {
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
        errors: { resolution: explain(err, '', deps.logger).split('\n')[0]! },
      });
    }
  });
}
