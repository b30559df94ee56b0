import type { ApprovalPolicy } from '../actions/catalog.js';
import { ApprovalError } from './errors.js';

/** Who may approve: listed users, and members of listed user groups (as last read from Slack). */
export interface Membership {
  /**
   * The members of a user group, by id (S…) or handle (@sre-oncall), from memory: nothing here waits
   * for Slack. Undefined while the group has never been read.
   */
  groupMembers(group: string): ReadonlySet<string> | undefined;
}

/** Whether the user may approve under the policy; undefined when only groups not read yet could say. */
export function isApprover(
  policy: ApprovalPolicy,
  userId: string,
  membership: Membership,
): boolean | undefined {
  if (policy.approvers.includes(userId)) return true;
  let unknown = false;
  for (const approver of policy.approvers) {
    if (/^[UW]/.test(approver)) continue;
    const members = membership.groupMembers(approver);
    if (!members) unknown = true;
    else if (members.has(userId)) return true;
  }
  return unknown ? undefined : false;
}

/** Refuses an approving vote the policy does not allow, saying why. */
export function checkApprover(
  policy: ApprovalPolicy,
  request: { requestedBy: string; ref: string },
  userId: string,
  membership: Membership,
): void {
  if (userId === request.requestedBy && !policy.allowSelfApproval) {
    throw new ApprovalError('SELF_APPROVAL', `You requested ${request.ref}; someone else has to approve it.`);
  }
  const approver = isApprover(policy, userId, membership);
  if (approver === undefined) {
    const groups = policy.approvers.filter((a) => !/^[UW]/.test(a) && !membership.groupMembers(a));
    throw new ApprovalError(
      'MEMBERSHIP_UNKNOWN',
      `The bot does not know yet who is in ${groups.join(', ')} (Slack has not answered it); try again in a minute.`,
    );
  }
  if (!approver) {
    throw new ApprovalError(
      'NOT_APPROVER',
      `You are not an approver of ${request.ref}. Approvers: ${policy.approvers.map((a) => (/^[UW]/.test(a) ? `<@${a}>` : a)).join(', ')}.`,
    );
  }
}
