/** Why a silence cannot be set, extended or lifted; the message is shown to the person who asked. */
export type SilenceErrorCode =
  /** No `alertmanager:` in the config: the bot has nowhere to write silences. */
  | 'SILENCES_NOT_CONFIGURED'
  /** The person is not among `silences.silencers`, or the bot cannot tell yet. */
  | 'NOT_ALLOWED'
  | 'BAD_DURATION'
  | 'BAD_MATCHERS'
  | 'BAD_REASON'
  /** Declared by hand: no Alertmanager group to silence. */
  | 'NOT_ALERT_BORN'
  | 'ALREADY_SILENCED'
  | 'NOT_SILENCED'
  /** Someone else's change of this incident's silence is still waiting on Alertmanager. */
  | 'SILENCE_BUSY'
  | 'ALERTMANAGER_UNREACHABLE'
  /** Alertmanager's answer was lost and what it took could not be found: it may hold the change. */
  | 'ALERTMANAGER_OUTCOME_UNKNOWN'
  | 'ALERTMANAGER_REFUSED';

export class SilenceError extends Error {
  constructor(
    readonly code: SilenceErrorCode,
    /** User-facing mrkdwn: every outside value in it is escaped. */
    message: string,
  ) {
    super(message);
    this.name = 'SilenceError';
  }
}
