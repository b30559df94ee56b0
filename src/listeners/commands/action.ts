import type { ListenerDeps } from '../deps.js';
import { registerChoosingCommand } from '../incidentChoice.js';
import type { Listeners } from '../router.js';

/** /action: a request, a list or a cancel; acknowledged with the answer, the rest is queued. */
export function registerActionCommand(listeners: Listeners, deps: ListenerDeps): void {
  registerChoosingCommand(listeners, deps, '/action');
}
