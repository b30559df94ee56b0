import type { App } from '@slack/bolt';
import type { ListenerDeps } from '../deps.js';
import { registerChoosingCommand } from '../incidentChoice.js';

/** /action: a request, a list or a cancel; acknowledged with the answer, the rest is queued. */
export function registerActionCommand(app: App, deps: ListenerDeps): void {
  registerChoosingCommand(app, deps, '/action');
}
