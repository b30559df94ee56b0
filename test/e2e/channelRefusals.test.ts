import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import { slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const DEFAULT = 'C0DEFAULT1';
const ROUTED = 'C0PAYMENTS';

describe('an incident whose channel Slack will not let the bot post in', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({
      // DEFAULT_TEST_CONFIG ends with its routes (payments-api to C0PAYMENTS): one more route, then incidents.
      configYaml: `${DEFAULT_TEST_CONFIG}  - matchers: ['service=ledger']
    channel: C0LEDGER1
incidents:
  createChannel: true
  announcementChannel: C0ANNOUNCE
services:
  ledger:
    actions:
      - name: flush-cache
        description: Flush the ledger cache
        kind: custom
        driver: { type: command, argv: ['true'] }
        approval: { approvers: [U0BOB], required: 1 }
`,
    });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const incidentRow = async (group: string) =>
    (
      await bot.app.pool.query(
        `SELECT channel_id AS channel, refused_channel_id AS refused, slack_error AS error
           FROM incidents WHERE group_key LIKE $1`,
        [`%"${group}"%`],
      )
    ).rows[0] as { channel: string; refused: string | null; error: string | null };
  const refusals = async (error: string) =>
    (
      await bot.app.metrics.registry.getSingleMetric('incident_bot_slack_channel_refusals_total')?.get()
    )?.values.find((v) => v.labels.error === error)?.value ?? 0;
  const rootsIn = (channel: string, group: string) =>
    bot.slack.emulator.channelMessages(channel).filter((m) => m.text.includes(`${group}`));

  it('shows it in the default channel, saying where it belonged and why, and stops trying that channel', async () => {
    bot.slack.emulator.refuseChannel(ROUTED, 'not_in_channel');
    await bot.deliver(payload({ group: 'NotInvited', alerts: [{ instance: 'a' }] }));
    const root = await waitFor(
      () => rootsIn(DEFAULT, 'NotInvited')[0],
      20_000,
      'root in the default channel',
    );
    expect(JSON.stringify(root.blocks)).toContain(
      `This incident belongs in <#${ROUTED}>, but Slack would not let the bot post there (\`not_in_channel\`)`,
    );
    expect(await incidentRow('NotInvited')).toEqual({
      channel: DEFAULT,
      refused: ROUTED,
      error: 'not_in_channel',
    });
    expect(await refusals('not_in_channel')).toBe(1);

    // It grows: the root in the default channel is updated, and the refusing channel is not asked again.
    await bot.deliver(payload({ group: 'NotInvited', alerts: [{ instance: 'a' }, { instance: 'b' }] }));
    await waitFor(() => rootsIn(DEFAULT, 'NotInvited')[0]?.text.includes('2 firing'), 20_000, 'root updated');
    await waitForQueueIdle(bot.app.slackSync);
    expect(rootsIn(DEFAULT, 'NotInvited')).toHaveLength(1);
    expect(
      bot.slack.emulator.callsOf('chat.postMessage').filter((c) => c.params.channel === ROUTED),
    ).toHaveLength(1);
  });

  // Shown nowhere before: the reconcile pass tried the channel every minute, refused each time.
  it('moves it from a channel where only admins may post', async () => {
    bot.slack.emulator.refuseChannel(ROUTED, 'restricted_action_read_only_channel');
    await bot.deliver(payload({ group: 'ReadOnly', alerts: [{ instance: 'a' }] }));
    await waitFor(() => rootsIn(DEFAULT, 'ReadOnly')[0], 20_000, 'root in the default channel');
    expect(await incidentRow('ReadOnly')).toEqual({
      channel: DEFAULT,
      refused: ROUTED,
      error: 'restricted_action_read_only_channel',
    });
  });

  it('moves it when its channel is archived after the root was posted', async () => {
    await bot.deliver(
      payload({ group: 'Archived', alerts: [{ instance: 'a' }], commonLabels: { service: 'ledger' } }),
    );
    await waitFor(() => rootsIn('C0LEDGER1', 'Archived')[0], 20_000, 'root in its channel');
    await waitForQueueIdle(bot.app.slackSync);
    bot.slack.emulator.refuseChannel('C0LEDGER1', 'is_archived');
    await bot.deliver(
      payload({
        group: 'Archived',
        alerts: [{ instance: 'a' }, { instance: 'b' }],
        commonLabels: { service: 'ledger' },
      }),
    );
    const moved = await waitFor(() => rootsIn(DEFAULT, 'Archived')[0], 20_000, 'root in the default channel');
    expect(moved.text).toContain('2 firing');
    expect(JSON.stringify(moved.blocks)).toContain('(`is_archived`)');
    expect(await incidentRow('Archived')).toEqual({
      channel: DEFAULT,
      refused: 'C0LEDGER1',
      error: 'is_archived',
    });
    expect(await refusals('is_archived')).toBe(1);
  });

  it('shows a declared incident in the announcement channel when Slack does not create its own', async () => {
    bot.slack.emulator.failNext('conversations.create', { error: 'restricted_action' });
    const answer = await slashCommand(bot, 'declare P1 Checkout is down', { channel: 'C0RANDOM1' });
    const ref = /Declared (INC-\d+)/.exec(answer.text)![1]!;
    const root = await waitFor(
      () =>
        bot.slack.emulator
          .channelMessages('C0ANNOUNCE')
          .find(
            (m) =>
              JSON.stringify(m.blocks).includes(ref) && JSON.stringify(m.blocks).includes('incident_resolve'),
          ),
      20_000,
      'root in the announcement channel',
    );
    expect(JSON.stringify(root.blocks)).toContain(
      "Slack did not create this incident's own channel (`restricted_action`)",
    );
    const { rows } = await bot.app.pool.query('SELECT channel_id, slack_error FROM incidents WHERE id = $1', [
      Number(ref.slice(4)),
    ]);
    expect(rows[0]).toEqual({ channel_id: 'C0ANNOUNCE', slack_error: 'restricted_action' });
    expect(await refusals('restricted_action')).toBe(1);
  });

  it('shows an approval request asked for in a channel that refuses the bot in the default channel, saying where it was asked', async () => {
    bot.slack.emulator.refuseChannel('C0PRIVATE1', 'not_in_channel');
    const answer = await slashCommand(bot, 'flush-cache ledger', {
      command: '/action',
      channel: 'C0PRIVATE1',
    });
    const ref = /Requested (ACT-\d+)/.exec(answer.text)![1]!;
    const message = await waitFor(
      () => bot.slack.emulator.channelMessages(DEFAULT).find((m) => m.text.startsWith(`${ref}:`)),
      20_000,
      'approval message in the default channel',
    );
    expect(JSON.stringify(message.blocks)).toContain(
      `Requested in <#C0PRIVATE1>, but Slack would not let the bot post there (\`not_in_channel\`)`,
    );
    expect(JSON.stringify(message.blocks)).toContain('action_approve');
    const { rows } = await bot.app.pool.query(
      'SELECT channel_id AS channel, refused_channel_id AS refused, slack_error AS error FROM action_requests WHERE id = $1',
      [Number(ref.slice(4))],
    );
    expect(rows[0]).toEqual({ channel: DEFAULT, refused: 'C0PRIVATE1', error: 'not_in_channel' });
    // The refusing channel is not asked again, by the request's syncs or the reconcile pass.
    await waitForQueueIdle(bot.app.slackSync);
    expect(
      bot.slack.emulator.callsOf('chat.postMessage').filter((c) => c.params.channel === 'C0PRIVATE1'),
    ).toHaveLength(1);
  });
});
