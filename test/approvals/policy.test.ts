import { describe, expect, it } from 'vitest';
import { ApprovalPolicySchema } from '../../src/actions/catalog.js';
import { checkApprover, checkRequester, isAmong, type Membership } from '../../src/approvals/policy.js';

const policy = ApprovalPolicySchema.parse({ approvers: ['U0ALICE', '@sre-oncall', 'S0DBA'] });
const request = { requestedBy: 'U0CAROL', ref: 'ACT-1' };
/** Groups read, by id or handle; a handle Slack listed also has its id. */
const known = (groups: Record<string, string[]>, ids: Record<string, string> = {}): Membership => ({
  groupMembers: (group) => (groups[group] ? new Set(groups[group]) : undefined),
  groupId: (group) => (group.startsWith('S') ? group : ids[group]),
});

describe('who may approve, from the members last read', () => {
  it('says yes for a listed user or a member of a group read, no when every group read lacks them', () => {
    const membership = known({ '@sre-oncall': ['U0BOB'], S0DBA: [] });
    expect(isAmong(policy.approvers, 'U0ALICE', membership)).toBe(true);
    expect(isAmong(policy.approvers, 'U0BOB', membership)).toBe(true);
    expect(isAmong(policy.approvers, 'U0MALLORY', membership)).toBe(false);
  });

  it('does not know while a group that could say has never been read, and tells the clicker so', () => {
    const membership = known({ '@sre-oncall': ['U0BOB'] });
    expect(isAmong(policy.approvers, 'U0BOB', membership)).toBe(true);
    expect(isAmong(policy.approvers, 'U0MALLORY', membership)).toBeUndefined();
    expect(() => checkApprover(policy, request, 'U0MALLORY', membership)).toThrow(
      'The bot does not know yet who is in S0DBA',
    );
    expect(() =>
      checkApprover(policy, request, 'U0MALLORY', known({ '@sre-oncall': [], S0DBA: [] })),
    ).toThrow('You are not an approver of ACT-1');
  });
});

describe('who may request', () => {
  const guarded = { name: 'rollback', requesters: ['U0ALICE', '@sre-leads', 'S0DBA', '@gone'] };
  const read = known(
    { '@sre-leads': ['U0BOB'], S0DBA: ['U0DANA'], '@gone': [] },
    { '@sre-leads': 'S0LEADS' },
  );

  it('lets anyone request an action without requesters, whatever is known of the groups', () => {
    expect(() => checkRequester({ name: 'scale' }, 'payments-api', 'U0MALLORY', known({}))).not.toThrow();
  });

  it('lets a listed person and a member of a listed group request', () => {
    for (const user of ['U0ALICE', 'U0BOB', 'U0DANA'])
      expect(() => checkRequester(guarded, 'payments-api', user, read), user).not.toThrow();
  });

  it('refuses anyone else, naming who may: people and groups as mentions, a handle Slack does not list as text', () => {
    expect(() => checkRequester(guarded, 'payments-api', 'U0MALLORY', read)).toThrow(
      'You may not request rollback on payments-api. Requesters: <@U0ALICE>, <!subteam^S0LEADS>, <!subteam^S0DBA>, @gone.',
    );
  });

  it('answers "try again in a minute" while a group that could say has never been read', () => {
    const unread = known({ '@sre-leads': ['U0BOB'] }, { '@sre-leads': 'S0LEADS' });
    expect(() => checkRequester(guarded, 'payments-api', 'U0BOB', unread)).not.toThrow();
    expect(() => checkRequester(guarded, 'payments-api', 'U0MALLORY', unread)).toThrow(
      'The bot does not know yet who is in S0DBA, @gone (Slack has not answered it); try again in a minute.',
    );
  });
});
