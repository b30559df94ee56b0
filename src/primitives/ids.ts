/** How people name an incident in Slack and in commands. */
export function incidentRef(id: number): string {
  return `INC-${id}`;
}

/** How people name an action request in Slack and in commands. */
export function requestRef(id: number): string {
  return `ACT-${id}`;
}

/** The actor of the timeline entries Alertmanager's deliveries cause, where a person's id stands otherwise. */
export const ALERTMANAGER_ACTOR = 'alertmanager';

/** The actor of what the bot does by itself: escalation steps, reminders, a playbook's auto checks. */
export const BOT_ACTOR = 'incident-bot';
