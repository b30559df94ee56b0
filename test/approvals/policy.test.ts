import { describe, expect, it } from 'vitest';
import { ApprovalPolicySchema } from '../../src/actions/catalog.js';
import { checkApprover, isApprover, type Membership } from '../../src/approvals/policy.js';

const policy = ApprovalPolicySchema.parse({ approvers: ['U0ALICE', '@sre-oncall', 'S0DBA'] });
const request = { requestedBy: 'U0CAROL', ref: 'ACT-1' };
const known = (groups: Record<string, string[]>): Membership => ({
  groupMembers: (group) => (groups[group] ? new Set(groups[group]) : undefined),
});

describe('who may approve, from the members last read', () => {
  it('says yes for a listed user or a member of a group read, no when every group read lacks them', () => {
    const membership = known({ '@sre-oncall': ['U0BOB'], S0DBA: [] });
    expect(isApprover(policy, 'U0ALICE', membership)).toBe(true);
    expect(isApprover(policy, 'U0BOB', membership)).toBe(true);
    expect(isApprover(policy, 'U0MALLORY', membership)).toBe(false);
  });

  it('does not know while a group that could say has never been read, and tells the clicker so', () => {
    const membership = known({ '@sre-oncall': ['U0BOB'] });
    expect(isApprover(policy, 'U0BOB', membership)).toBe(true);
    expect(isApprover(policy, 'U0MALLORY', membership)).toBeUndefined();
    expect(() => checkApprover(policy, request, 'U0MALLORY', membership)).toThrow(
      'The bot does not know yet who is in S0DBA',
    );
    expect(() =>
      checkApprover(policy, request, 'U0MALLORY', known({ '@sre-oncall': [], S0DBA: [] })),
    ).toThrow('You are not an approver of ACT-1');
  });
});
