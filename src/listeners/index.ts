import type { App } from '@slack/bolt';
import { registerApprovalButtons } from './actions/approvalButtons.js';
import { registerIncidentButtons } from './actions/incidentButtons.js';
import { registerPlaybookButtons } from './actions/playbookButtons.js';
import { registerActionCommand } from './commands/action.js';
import { registerHealthCommand } from './commands/health.js';
import { registerIncidentCommand } from './commands/incident.js';
import type { ListenerDeps } from './deps.js';
import { registerIncidentChoiceButtons } from './incidentChoice.js';
import { registerResolveForm } from './views/resolveForm.js';
import { registerSilenceForms } from './views/silenceForm.js';
import { registerUpdateForm } from './views/updateForm.js';

export type { ListenerDeps } from './deps.js';

/** Every Bolt listener, by Slack surface: the slash commands, the buttons, the forms. */
export function registerListeners(app: App, deps: ListenerDeps): void {
  registerIncidentCommand(app, deps);
  registerActionCommand(app, deps);
  registerHealthCommand(app, deps);
  registerIncidentButtons(app, deps);
  registerPlaybookButtons(app, deps);
  registerApprovalButtons(app, deps);
  registerIncidentChoiceButtons(app, deps);
  registerUpdateForm(app, deps);
  registerResolveForm(app, deps);
  registerSilenceForms(app, deps);
}
