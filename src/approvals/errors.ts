/** Why a vote, a cancel or a move of an action request is refused; the message goes to the person. */
export type ApprovalErrorCode =
  | 'REQUEST_NOT_FOUND'
  | 'NOT_PENDING'
  | 'EXPIRED'
  | 'SELF_APPROVAL'
  | 'NOT_APPROVER'
  | 'NOT_ALLOWED_TO_REQUEST'
  | 'MEMBERSHIP_UNKNOWN'
  | 'ALREADY_VOTED'
  | 'DRY_RUN_PENDING'
  | 'NOT_REQUESTER'
  | 'NOT_FROM_MESSAGE'
  | 'ALREADY_HANDLED'
  | 'ALREADY_REQUESTED'
  | 'CONFLICT';

export class ApprovalError extends Error {
  constructor(
    readonly code: ApprovalErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApprovalError';
  }
}
