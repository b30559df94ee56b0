/** Errors from talking to Alertmanager's API, by what the caller should tell the user. */

export type AlertmanagerErrorCode =
  /**
   * No peer answered (refused, timed out, or a 5xx from each). For a silence's POST, only peers that
   * cannot have received it were passed over: nothing was written.
   */
  | 'ALERTMANAGER_UNREACHABLE'
  /**
   * A silence's POST reached a peer but no answer came back (a timeout, a reset, a 5xx, a gateway's
   * 502/504): Alertmanager may have taken it. Not sent to another peer, where it would make a second.
   */
  | 'ALERTMANAGER_OUTCOME_UNKNOWN'
  /**
   * Every peer asked for its live alerts started too recently to have been sent every alert again:
   * Alertmanager keeps alerts in memory only. Asked again later.
   */
  | 'ALERTMANAGER_UNSETTLED'
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
