import type { App } from '@slack/bolt';
import type { ListenerDeps } from '../deps.js';
import { registerChoosingCommand } from '../incidentChoice.js';

/** /health [service]: the checks run as a queued job that posts its results where they were asked for. */
export function registerHealthCommand(app: App, deps: ListenerDeps): void {
  registerChoosingCommand(app, deps, '/health');
}
