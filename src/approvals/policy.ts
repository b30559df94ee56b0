import type { ApprovalPolicy } from '../actions/catalog.js';
import { ApprovalError } from './errors.js';

/** Who may approve: listed users, and members of listed user groups (resolved through Slack). */
export interface Membership {
  /** The members of a user group, by id (S…) or handle (@sre-oncall). */
  groupMembers(group: string): Promise<ReadonlySet<string>>;
}

export async function isApprover(
  policy: ApprovalPolicy,
  userId: string,
  membership: Membership,
): Promise<boolean> {
  if (policy.approvers.includes(userId)) return true;
  for (const approver of policy.approvers) {
    if (/^[UW]/.test(approver)) continue;
    if ((await membership.groupMembers(approver)).has(userId)) return true;
  }
  return false;
}

/** Refuses an approving vote the policy does not allow, saying why. */
export async function checkApprover(
  policy: ApprovalPolicy,
  request: { requestedBy: string; ref: string },
  userId: string,
  membership: Membership,
): Promise<void> {
  if (userId === request.requestedBy && !policy.allowSelfApproval) {
    throw new ApprovalError('SELF_APPROVAL', `You requested ${request.ref}; someone else has to approve it.`);
  }
  if (!(await isApprover(policy, userId, membership))) {
    throw new ApprovalError(
      'NOT_APPROVER',
      `You are not an approver of ${request.ref}. Approvers: ${policy.approvers.map((a) => (/^[UW]/.test(a) ? `<@${a}>` : a)).join(', ')}.`,
    );
  }
}
