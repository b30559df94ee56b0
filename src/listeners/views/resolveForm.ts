import type { App } from '@slack/bolt';
import { resolveIncident } from '../../incidents/lifecycle.js';
import { RESOLVE_MODAL, readResolveSubmission } from '../../views/modals.js';
import type { ListenerDeps } from '../deps.js';
import { registerIncidentForm } from './incidentForm.js';

/** The resolve form: its one field is the resolution. */
export function registerResolveForm(app: App, deps: ListenerDeps): void {
  registerIncidentForm(app, deps, {
    callbackId: RESOLVE_MODAL,
    read: readResolveSubmission,
    errorField: 'resolution',
    usage: () => '',
    act: (id, input, by, requestKey) => resolveIncident(deps, id, input.resolution, by, requestKey),
  });
}
