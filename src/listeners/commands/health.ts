import type { ListenerDeps } from '../deps.js';
import { registerChoosingCommand } from '../incidentChoice.js';
import type { Listeners } from '../router.js';

/** /health [service]: the checks run as a queued job that posts its results where they were asked for. */
export function registerHealthCommand(listeners: Listeners, deps: ListenerDeps): void {
  registerChoosingCommand(listeners, deps, '/health');
}
