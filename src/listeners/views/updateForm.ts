import { usageFor } from '../../commands/incidentHandlers.js';
import { postStatusUpdate } from '../../incidents/lifecycle.js';
import { readUpdateSubmission, UPDATE_MODAL } from '../../views/modals.js';
import type { ListenerDeps } from '../deps.js';
import type { Listeners } from '../router.js';
import { registerIncidentForm } from './incidentForm.js';

/** The status update form. */
export function registerUpdateForm(listeners: Listeners, deps: ListenerDeps): void {
  registerIncidentForm(listeners, deps, {
    callbackId: UPDATE_MODAL,
    read: readUpdateSubmission,
    errorField: 'text',
    usage: (err) => usageFor({ name: 'update' }, err),
    act: (id, input, by, requestKey) => postStatusUpdate(deps, id, { ...input, by, requestKey }),
  });
}
