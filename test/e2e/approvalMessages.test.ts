import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { enqueueActionMessageSync } from '../../src/queues/queues.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import { clickOn, messageOf, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const RECORDER = new URL('../fixtures/record-run.mjs', import.meta.url).pathname;

// The action runs until the test writes its release file.
const config = (releaseFile: string) => `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    actions:
      - name: flush-cache
        description: Flush the payments cache
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, flush, --until, ${releaseFile}], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1 }
`;

/** An action request's approval message is synced one at a time, and ends showing the request's last state. */
describe('approval messages', () => {
  let bot: TestBot;
  let release: string;
  beforeAll(async () => {
    const dir = await mkdtemp(join(tmpdir(), 'approval-messages-'));
    release = join(dir, 'release');
    process.env.RUN_LOG = join(dir, 'runs.jsonl');
    bot = await startTestBot({ configYaml: config(release) });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const request = async () => {
    const answer = await slashCommand(bot, 'flush-cache payments-api', {
      command: '/action',
      user: SRE.alice,
    });
    const ref = /Requested (ACT-\d+)/.exec(answer.text)?.[1];
    if (!ref) throw new Error(`not requested: ${answer.text}`);
    return { ref, id: Number(ref.slice(4)) };
  };
  const messagesOf = (ref: string) =>
    bot.slack.emulator.allMessages().filter((m) => JSON.stringify(m.blocks).includes(`*${ref} ·`));
  const syncJobsDelayed = async (id: number) =>
    (await bot.app.slackSync.getJobs(['delayed'])).some(
      (job) => job?.data.kind === 'action-request' && job.data.requestId === id,
    );

  it('posts the approval message again if someone deleted it, showing the request as it is', async () => {
    const { ref, id } = await request();
    const first = await messageOf(bot, 'request', id);
    await waitForQueueIdle(bot.app.slackSync);
    bot.slack.emulator.failNext('chat.update', { error: 'message_not_found' });
    await slashCommand(bot, `cancel ${ref}`, { command: '/action', user: SRE.alice });
    const again = await waitFor(
      async () => {
        const { rows } = await bot.app.pool.query(
          'SELECT message_ts AS ts FROM action_requests WHERE id = $1 AND message_version >= version',
          [id],
        );
        return rows[0] && rows[0].ts !== first.messageTs ? (rows[0].ts as string) : undefined;
      },
      20_000,
      'the approval message posted again',
    );
    expect(JSON.stringify(bot.slack.emulator.message(first.channel, again)!.blocks)).toMatch(/[Cc]ancel/);
  });

  it('adopts an approval message Slack took but answered 500 to, instead of posting a second', async () => {
    bot.slack.emulator.failNext('chat.postMessage', { status: 500, accepted: true });
    const { ref, id } = await request();
    const { messageTs } = await messageOf(bot, 'request', id);
    await waitForQueueIdle(bot.app.slackSync);
    const messages = messagesOf(ref);
    expect(messages.map((m) => m.ts)).toEqual([messageTs]);
    expect(messages[0]!.metadata).toMatchObject({
      event_type: 'action_request',
      event_payload: { request_id: id },
    });
  });

  it('posts one approval message when two syncs of the request run at once', async () => {
    const posts = bot.slack.emulator.callsOf('chat.postMessage').length;
    const held = bot.slack.emulator.hold('chat.postMessage');
    const { ref, id } = await request();
    await held.reached;
    // A second sync of the same request while the first one's post is in flight.
    await enqueueActionMessageSync(bot.app.slackSync, id, 1000);
    await waitFor(
      async () =>
        bot.slack.emulator.callsOf('chat.postMessage').length > posts || (await syncJobsDelayed(id)),
      20_000,
      'the second sync to post or to wait',
    );
    held.release();
    await messageOf(bot, 'request', id);
    await waitForQueueIdle(bot.app.slackSync);
    expect(messagesOf(ref)).toHaveLength(1);
  });

  it('ends showing Succeeded when an earlier update of the message was slow', async () => {
    const { ref, id } = await request();
    await messageOf(bot, 'request', id);
    await waitForQueueIdle(bot.app.slackSync);
    // The update after the approval hangs, showing Approved or Running, while the action succeeds.
    const held = bot.slack.emulator.hold('chat.update');
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    await held.reached;
    await writeFile(release, '');
    await waitFor(
      async () =>
        (await bot.app.pool.query('SELECT status FROM action_requests WHERE id = $1', [id])).rows[0]
          .status === 'succeeded',
      20_000,
      'the action to succeed',
    );
    await waitFor(
      async () =>
        bot.slack.emulator
          .callsOf('chat.update')
          .some((c) => JSON.stringify(c.params.blocks).includes('Succeeded')) || (await syncJobsDelayed(id)),
      20_000,
      'the Succeeded sync to update or to wait',
    );
    held.release();
    await waitFor(
      () => JSON.stringify(messagesOf(ref)[0]?.blocks).includes('Succeeded'),
      20_000,
      'Succeeded in Slack',
    );
    await waitForQueueIdle(bot.app.slackSync);
    const [message] = messagesOf(ref);
    expect(JSON.stringify(message!.blocks)).toContain('Succeeded');
    expect(messagesOf(ref)).toHaveLength(1);
  });

  // Sent at once, the next update could be overtaken by the one still on its way: "Pending" over
  // "Cancelled", for good.
  it('sends no update of the message while one that got no answer may still land, then the newest', async () => {
    const { ref, id } = await request();
    await messageOf(bot, 'request', id);
    await waitForQueueIdle(bot.app.slackSync);
    const updates = () => bot.slack.emulator.callsOf('chat.update').length;
    const before = updates();
    // A gateway's 502: Slack may or may not have it, and may carry it out later.
    bot.slack.emulator.failNext('chat.update', { status: 502 });
    await slashCommand(bot, `cancel ${ref}`, { command: '/action', user: SRE.alice });
    await waitFor(() => syncJobsDelayed(id), 20_000, 'the sync to wait');
    const unsettled = async () =>
      (
        await bot.app.pool.query(
          "SELECT update_unsettled_until > now() + interval '20 seconds' AS waits FROM action_requests WHERE id = $1",
          [id],
        )
      ).rows[0].waits;
    // Its retry waits out the window rather than send the update.
    await waitFor(
      async () => (await unsettled()) === true && (await syncJobsDelayed(id)) && updates() === before + 1,
      20_000,
      'the retry to wait out the window',
    );
    // Past the window, the newest is sent.
    await bot.app.pool.query(
      "UPDATE action_requests SET update_unsettled_until = now() - interval '1 second' WHERE id = $1",
      [id],
    );
    for (const job of await bot.app.slackSync.getJobs(['delayed']))
      if (job?.data.kind === 'action-request') await job.promote();
    await waitFor(
      () => JSON.stringify(messagesOf(ref)[0]?.blocks).includes('Cancelled'),
      20_000,
      'Cancelled in Slack',
    );
  });
});
