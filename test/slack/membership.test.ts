import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { startSlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { SlackMembership } from '../../src/slack/membership.js';
import { SlackApi } from '../../src/slack/slackApi.js';
import { TEST_SECRETS } from '../support/testBot.js';

describe('user-group members, read in the background', () => {
  const closes: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of closes.splice(0)) await close();
  });

  it('takes a group Slack says does not exist as empty, and says so in the log, rather than unknown for ever', async () => {
    const slack = await startSlackEmulator({ token: TEST_SECRETS.botToken });
    closes.push(slack.close);
    slack.emulator.addUserGroup('S0ONCALL1', 'sre-oncall', ['U0BOB']);
    const lines: string[] = [];
    const membership = new SlackMembership(
      new SlackApi(TEST_SECRETS.botToken, slack.apiUrl),
      ['@sre-oncall', 'S0TYPO123'],
      60_000,
      createLogger('warn', [], { write: (line: string) => lines.push(line) }),
    );
    await membership.refresh();
    expect(membership.groupMembers('@sre-oncall')).toEqual(new Set(['U0BOB']));
    expect(membership.groupMembers('S0TYPO123')).toEqual(new Set());
    // What a mention of each group needs: a handle's id as Slack listed it.
    expect(membership.groupId('@sre-oncall')).toBe('S0ONCALL1');
    expect(membership.groupId('S0TYPO123')).toBe('S0TYPO123');
    expect(lines.map((l) => JSON.parse(l))).toContainEqual(
      expect.objectContaining({
        level: 50,
        group: 'S0TYPO123',
        msg: expect.stringContaining('no_such_subteam'),
      }),
    );
  });

  it('asks Slack again for the groups a step waits on, not at every ask while Slack does not list them', async () => {
    const slack = await startSlackEmulator({ token: TEST_SECRETS.botToken });
    closes.push(slack.close);
    slack.emulator.addUserGroup('S0ONCALL1', 'sre-oncall', ['U0BOB']);
    slack.emulator.failNext('usergroups.list', { status: 503 }, 2);
    const membership = new SlackMembership(
      new SlackApi(TEST_SECRETS.botToken, slack.apiUrl),
      ['@sre-oncall'],
      60_000,
      createLogger('silent'),
    );
    await membership.refresh();
    // Not listed yet: each ask is answered at once, and only the first asks Slack again.
    for (let i = 0; i < 3; i++) {
      expect(membership.groupId('@sre-oncall')).toBeUndefined();
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(slack.emulator.callsOf('usergroups.list')).toHaveLength(2);
    // Listed, a handle Slack has is its id; one it has not, null.
    await membership.refresh();
    expect(membership.groupId('@sre-oncall')).toBe('S0ONCALL1');
    expect(membership.groupId('@sre-onacll')).toBeNull();
  });
});
