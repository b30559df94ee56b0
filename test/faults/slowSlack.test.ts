import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { rolloutConfig } from '../support/rollouts.js';
import { waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

const SERVICES = ['payments-api', 'orders-api', 'search-api'];

/**
 * Issue 13, "Connections that Slack cannot take away": a sync holds a database client across its Slack
 * calls, so a slow Slack holds clients for as long as it is slow. The webhook must still get one.
 */
describe('a slow Slack', () => {
  let bot: TestBot | undefined;
  let release: string;
  afterAll(async () => {
    if (release) await writeFile(release, '');
    await bot?.stop();
    delete process.env.RUN_LOG;
  });

  it('does not starve the webhook of database connections while syncs wait on it and actions run', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'slow-slack-'));
    const runLog = join(dir, 'runs.jsonl');
    release = join(dir, 'release');
    await writeFile(runLog, '');
    // The drivers run in this process: they take RUN_LOG from its environment.
    process.env.RUN_LOG = runLog;
    bot = await startTestBot({ configYaml: rolloutConfig(release, SERVICES) });
    const runs = async () => (await readFile(runLog, 'utf8')).split('\n').filter(Boolean).length;

    // Roll-outs running on three services, each holding its service's lock (a client) while it runs.
    for (const service of SERVICES) {
      const answer = await slashCommand(bot, `rollout ${service}`, { command: '/action', user: SRE.alice });
      const id = /Requested ACT-(\d+)/.exec(answer.text)![1]!;
      expect(await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob })).toBe(200);
    }
    await waitFor(async () => (await runs()) === SERVICES.length, 30_000, 'the roll-outs to start');

    // Slack stops answering new messages: every sync of a new incident waits inside chat.postMessage.
    const groups = Array.from({ length: 10 }, (_, i) => `SlowSlack${i + 1}Group`);
    const holds = groups.map(() => bot!.slack.emulator.hold('chat.postMessage'));
    let inFlight = 0;
    for (const hold of holds) void hold.reached.then(() => inFlight++);
    for (const group of groups) await bot.deliver(payload({ group, alerts: [{ instance: 'pod-1' }] }));
    // As many syncs as would leave the webhook no client, were it to share their pool with the actions.
    await waitFor(() => inFlight >= 7, 30_000, 'syncs to wait on Slack');

    const probe = await bot.deliver(payload({ group: 'WhileSlackIsSlow', alerts: [{ instance: 'pod-1' }] }));
    expect(probe.status, await probe.clone().text()).toBe(200);

    for (const hold of holds) hold.release();
    await writeFile(release, '');
    await waitFor(
      () =>
        bot!.slack.emulator
          .channelMessages('C0PAYMENTS')
          .some((m) => !m.threadTs && JSON.stringify(m.blocks).includes('WhileSlackIsSlow')),
      30_000,
      'the probe in Slack',
    );
  });
});
