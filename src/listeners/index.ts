import { registerApprovalButtons } from './actions/approvalButtons.js';
import { registerIncidentButtons } from './actions/incidentButtons.js';
import { registerPlaybookButtons } from './actions/playbookButtons.js';
import { registerActionCommand } from './commands/action.js';
import { registerHealthCommand } from './commands/health.js';
import { registerIncidentCommand } from './commands/incident.js';
import type { ListenerDeps } from './deps.js';
import { registerIncidentChoiceButtons } from './incidentChoice.js';
import type { Listeners } from './router.js';
import { registerResolveForm } from './views/resolveForm.js';
import { registerSilenceForms } from './views/silenceForm.js';
import { registerUpdateForm } from './views/updateForm.js';

export type { ListenerDeps } from './deps.js';
export { ListenerRouter, type Listeners } from './router.js';

/** Every Bolt listener, by Slack surface: the slash commands, the buttons, the forms. */
export function registerListeners(listeners: Listeners, deps: ListenerDeps): void {
  registerIncidentCommand(listeners, deps);
  registerActionCommand(listeners, deps);
  registerHealthCommand(listeners, deps);
  registerIncidentButtons(listeners, deps);
  registerPlaybookButtons(listeners, deps);
  registerApprovalButtons(listeners, deps);
  registerIncidentChoiceButtons(listeners, deps);
  registerUpdateForm(listeners, deps);
  registerResolveForm(listeners, deps);
  registerSilenceForms(listeners, deps);
}
