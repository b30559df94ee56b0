/** Errors from talking to Slack, by what the caller should do about them. */

/** Slack said 429, or our own limiter says the budget is spent: wait `waitMs`, then try again. */
export class SlackRateLimitedError extends Error {
  readonly code = 'SLACK_RATE_LIMITED';
  constructor(
    readonly limitKey: string,
    readonly waitMs: number,
    readonly fromSlack: boolean,
  ) {
    super(`${limitKey}: rate limited for ${waitMs} ms${fromSlack ? ' (429 from Slack)' : ''}`);
    this.name = 'SlackRateLimitedError';
  }
}

/**
 * Slack is down, slow or unreachable: retry with backoff. `answered`: Slack answered (a 5xx, or an error
 * like internal_error), so the call is over on its side; otherwise no answer came (a timeout, a cut
 * connection) and Slack may still be carrying it out.
 */
export class SlackUnavailableError extends Error {
  readonly code = 'SLACK_UNAVAILABLE';
  constructor(
    readonly method: string,
    detail: string,
    readonly answered = false,
  ) {
    super(`${method}: Slack unavailable: ${detail}`);
    this.name = 'SlackUnavailableError';
  }
}

/**
 * A post (or an update) that got no answer may still be carried out by Slack: look for it again after
 * `waitMs`, not post it (nor send a later update, which it could then overtake).
 */
export class SlackOutcomePendingError extends Error {
  readonly code = 'SLACK_OUTCOME_PENDING';
  constructor(readonly waitMs: number) {
    super(`a call that got no answer may still reach Slack: trying again in ${waitMs} ms`);
    this.name = 'SlackOutcomePendingError';
  }
}

/** Slack refused the call itself (invalid_blocks, channel_not_found, not_in_channel…): retrying won't help. */
export class SlackRejectedError extends Error {
  readonly code = 'SLACK_REJECTED';
  constructor(
    readonly method: string,
    readonly slackError: string,
    readonly details?: unknown,
  ) {
    super(`${method}: Slack answered ${slackError}${details ? ` ${JSON.stringify(details)}` : ''}`);
    this.name = 'SlackRejectedError';
  }
}
