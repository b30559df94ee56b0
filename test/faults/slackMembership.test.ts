import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPROVAL_BUTTONS } from '../../src/listeners/actions/approvalButtons.js';
import { waitFor } from '../support/services.js';
import { clickOn, lastEphemeralTo, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const CONFIG = `${DEFAULT_TEST_CONFIG}
actions:
  membershipRefresh: 1s
services:
  payments-api:
    actions:
      - { name: flush-cache, description: Flush the cache, kind: custom, driver: { type: command, argv: [node, -e, ''] }, approval: { approvers: ['@sre-oncall'] } }
`;

describe('approvals while Slack is slow to say who is in a user group', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({ configYaml: CONFIG });
    bot.slack.emulator.addUserGroup('S0ONCALL', 'sre-oncall', [SRE.bob]);
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const request = async () => {
    const answer = await slashCommand(bot, 'flush-cache payments-api', { command: '/action' });
    const id = /Requested ACT-(\d+)/.exec(answer.text)?.[1];
    if (!id) throw new Error(`not requested: ${answer.text}`);
    return id;
  };
  const statusOf = async (id: string) =>
    (await bot.app.pool.query('SELECT status FROM action_requests WHERE id = $1', [Number(id)])).rows[0]
      ?.status as string;
  /** Sessions that have sat in an open transaction, doing nothing, for seconds. */
  const openTransactions = async () =>
    (
      await bot.app.pool.query(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND state LIKE 'idle in transaction%'
            AND state_change < now() - interval '5 seconds'`,
      )
    ).rows[0].n as number;

  it('reads the group in the background, and a click decides while that read hangs, holding no transaction', async () => {
    // Read without any click asking.
    await waitFor(
      () => bot.slack.emulator.callsOf('usergroups.users.list').some((c) => c.ok),
      20_000,
      'the group read in the background',
    );
    const id = await request();
    const slow = bot.slack.emulator.hold('usergroups.users.list');
    await slow.reached;
    await clickOn(bot, 'request', id, APPROVAL_BUTTONS.approve, { user: SRE.bob });
    await waitFor(
      async () => (await statusOf(id)) === 'succeeded',
      20_000,
      'the vote decided and the action run',
    );
    // Slack has still not answered: nothing in the bot sat waiting for it inside a transaction.
    expect(await openTransactions()).toBe(0);
    slow.release();
  });

  it('decides from the members last read while Slack fails to answer', async () => {
    bot.slack.emulator.failNext('usergroups.users.list', { status: 503 }, 1000);
    await waitFor(
      () => bot.slack.emulator.callsOf('usergroups.users.list').some((c) => c.status === 503),
      20_000,
      'a failed read',
    );
    const id = await request();
    await clickOn(bot, 'request', id, APPROVAL_BUTTONS.approve, { user: SRE.carol });
    await waitFor(
      () => lastEphemeralTo(bot, SRE.carol).includes('You are not an approver'),
      20_000,
      'an outsider refused',
    );
    await clickOn(bot, 'request', id, APPROVAL_BUTTONS.approve, { user: SRE.bob });
    await waitFor(async () => (await statusOf(id)) === 'succeeded', 20_000, 'the member approved and it ran');
  });
});
