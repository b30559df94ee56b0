import { type ActionDefinition, type ApprovalPolicy, isPerson } from '../actions/catalog.js';
import { escapeMrkdwn } from '../render/mrkdwn.js';
import { ApprovalError } from './errors.js';

/** Who is in the user groups that approvers and requesters name, as last read from Slack. */
export interface Membership {
  /**
   * The members of a user group, by id (S…) or handle (@sre-oncall), from memory: nothing here waits
   * for Slack. Undefined while the group has never been read.
   */
  groupMembers(group: string): ReadonlySet<string> | undefined;
  /**
   * The group's id (S…), for a handle once Slack has listed it: what a mention of the group needs. Null
   * when Slack listed the groups without it, undefined while it has not listed them.
   */
  groupId(group: string): string | null | undefined;
}

/**
 * Whether the user is one of `people` (users, and members of user groups as last read); undefined when
 * only groups not read yet could say.
 */
export function isAmong(
  people: readonly string[],
  userId: string,
  membership: Membership,
): boolean | undefined {
  if (people.includes(userId)) return true;
  let unknown = false;
  for (const entry of people) {
    if (isPerson(entry)) continue;
    const members = membership.groupMembers(entry);
    if (!members) unknown = true;
    else if (members.has(userId)) return true;
  }
  return unknown ? undefined : false;
}

/** People and groups as mrkdwn mentions; a handle Slack has not listed shows as text. */
function mentions(people: readonly string[], membership: Membership): string {
  return people
    .map((entry) => {
      if (isPerson(entry)) return `<@${entry}>`;
      const id = membership.groupId(entry);
      return id ? `<!subteam^${id}>` : escapeMrkdwn(entry);
    })
    .join(', ');
}

/**
 * Refuses a user who is not one of `people`, with `refusal` given the mentions of who is; while a group
 * that could say has never been read, says to try again with `unknown` (a refusal then could be wrong).
 */
export function requireAmong(
  people: readonly string[],
  userId: string,
  membership: Membership,
  refusal: (who: string) => Error,
  unknown: (message: string) => Error = (message) => new ApprovalError('MEMBERSHIP_UNKNOWN', message),
): void {
  const among = isAmong(people, userId, membership);
  if (among === undefined) {
    const groups = people.filter((entry) => !isPerson(entry) && !membership.groupMembers(entry));
    throw unknown(
      `The bot does not know yet who is in ${escapeMrkdwn(groups.join(', '))} (Slack has not answered it); try again in a minute.`,
    );
  }
  if (!among) throw refusal(mentions(people, membership));
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
  requireAmong(
    policy.approvers,
    userId,
    membership,
    (who) =>
      new ApprovalError('NOT_APPROVER', `You are not an approver of ${request.ref}. Approvers: ${who}.`),
  );
}

/** Refuses a request of an action whose `requesters` do not include the user; without them, anyone may. */
export function checkRequester(
  action: Pick<ActionDefinition, 'name' | 'requesters'>,
  service: string,
  userId: string,
  membership: Membership,
): void {
  if (!action.requesters) return;
  requireAmong(
    action.requesters,
    userId,
    membership,
    (who) =>
      new ApprovalError(
        'NOT_ALLOWED_TO_REQUEST',
        `You may not request ${action.name} on ${escapeMrkdwn(service)}. Requesters: ${who}.`,
      ),
  );
}
