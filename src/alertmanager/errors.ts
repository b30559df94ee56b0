/** Errors from talking to Alertmanager's API, by what the caller should tell the user. */

export type AlertmanagerErrorCode =
  /** No peer answered (refused, timed out, or a 5xx from each): nothing was written. */
  | 'ALERTMANAGER_UNREACHABLE'
  /** A peer answered and refused the request (a 4xx): its reason is in the message. */
  | 'ALERTMANAGER_REFUSED'
  /** The silence named is not known to Alertmanager. */
  | 'SILENCE_NOT_FOUND';

export class AlertmanagerError extends Error {
  constructor(
    readonly code: AlertmanagerErrorCode,
    message: string,
    /** The HTTP status of the answer, when there was one. */
    readonly status?: number,
  ) {
    super(message);
    this.name = 'AlertmanagerError';
  }
}
