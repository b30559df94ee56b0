/** Why a playbook's move cannot be carried out; the message (mrkdwn-safe) is shown to the person who clicked. */
export type PlaybookErrorCode =
  /** The incident's playbook no longer offers it (the config changed, or its labels match another). */
  | 'MOVE_NOT_OFFERED'
  /** Its params cannot be filled from the incident's labels, or the action refuses them. */
  | 'MOVE_UNAVAILABLE';

export class PlaybookError extends Error {
  constructor(
    readonly code: PlaybookErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PlaybookError';
  }
}
