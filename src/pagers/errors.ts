/** Errors from sending a page, by what the page sync does next. */

export type PagerErrorCode =
  /** Not delivered this time (unreachable, timed out, 408, 429, 5xx): tried again later. */
  | 'PAGER_UNAVAILABLE'
  /** The pager answered and refused the event (another 4xx): sending it again would change nothing. */
  | 'PAGER_REFUSED';

export class PagerError extends Error {
  constructor(
    readonly code: PagerErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'PagerError';
  }

  get retryable(): boolean {
    return this.code === 'PAGER_UNAVAILABLE';
  }
}
