/** Why an incident command cannot be carried out; the message is shown to the person who asked. */
export type IncidentErrorCode =
  | 'INCIDENT_NOT_FOUND'
  | 'NO_INCIDENT_HERE'
  | 'ALREADY_RESOLVED'
  | 'NO_CHANGE'
  | 'NOT_FROM_MESSAGE'
  | 'ALREADY_HANDLED'
  | 'ALREADY_ACKNOWLEDGED'
  | 'NOT_ALERT_BORN';

export class IncidentError extends Error {
  constructor(
    readonly code: IncidentErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'IncidentError';
  }
}
