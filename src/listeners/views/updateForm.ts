import type { App } from '@slack/bolt';
import { usageFor } from '../../commands/incidentHandlers.js';
import { postStatusUpdate } from '../../incidents/lifecycle.js';
import { readUpdateSubmission, UPDATE_MODAL } from '../../views/modals.js';
import type { ListenerDeps } from '../deps.js';
import { registerIncidentForm } from './incidentForm.js';

/** The status update form. */
export function registerUpdateForm(app: App, deps: ListenerDeps): void {
  registerIncidentForm(app, deps, {
    callbackId: UPDATE_MODAL,
    read: readUpdateSubmission,
    errorField: 'text',
    usage: (err) => usageFor({ name: 'update' }, err),
    act: (id, input, by, requestKey) => postStatusUpdate(deps, id, { ...input, by, requestKey }),
  });
}
