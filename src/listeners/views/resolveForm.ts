import { resolve } from '../../commands/incidentHandlers.js';
import { SilenceError, unsilenceIncident } from '../../silences/silences.js';
import { RESOLVE_MODAL, readResolveSubmission } from '../../views/modals.js';
import type { ListenerDeps } from '../deps.js';
import type { Listeners } from '../router.js';
import { registerIncidentForm } from './incidentForm.js';
import { unsilencedText } from './silenceForm.js';

/** The resolve form: the resolution, and for a silenced incident whether to expire its silence too. */
export function registerResolveForm(listeners: Listeners, deps: ListenerDeps): void {
  registerIncidentForm(listeners, deps, {
    callbackId: RESOLVE_MODAL,
    read: readResolveSubmission,
    errorField: 'resolution',
    usage: () => '',
    act: (id, input, by, requestKey) => resolve(deps, id, input.resolution, by, requestKey),
    // Alertmanager may take longer than Slack waits for the form to close.
    afterAck: async (id, input, by, requestKey) => {
      if (!input.expireSilence) return undefined;
      try {
        await unsilenceIncident(deps, { incidentId: id, userId: by, requestKey: `${requestKey}:unsilence` });
      } catch (err) {
        // It ended on its own meanwhile: nothing left to expire.
        if (err instanceof SilenceError && err.code === 'NOT_SILENCED') return undefined;
        throw err;
      }
      return unsilencedText(id);
    },
  });
}
