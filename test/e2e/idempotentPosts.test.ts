import { afterEach, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import { slashCommand } from '../support/slackRequests.js';
import { jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0PAYMENTS';

/**
 * Every post carries metadata naming what it shows and a nonce recorded before the call; a post whose
 * outcome is unknown is looked up by it and adopted, never posted twice (DESIGN.md principle 7).
 */
describe('posting to Slack once, whatever the answer', () => {
  const bots: TestBot[] = [];
  afterEach(async () => {
    for (const bot of bots.splice(0)) await bot.stop();
  });
  const start = async () => {
    const bot = await startTestBot();
    bots.push(bot);
    return bot;
  };
  const openIncident = async (bot: TestBot, group: string) => {
    const { incident } = await jsonOf(await bot.deliver(payload({ group, alerts: [{ instance: 'a' }] })));
    const id = Number(incident!.slice('INC-'.length));
    const root = await waitFor(() => bot.slack.emulator.channelMessages(CHANNEL)[0], 20_000, 'root message');
    return { ref: incident!, id, root };
  };
  const intentsLeft = async (bot: TestBot) =>
    (await bot.app.pool.query('SELECT count(*)::int AS n FROM slack_post_intents')).rows[0].n;

  it('posts with metadata and looks nothing up when Slack answers', async () => {
    const bot = await start();
    const { ref, id, root } = await openIncident(bot, 'Answered');
    expect(root.metadata).toEqual({
      event_type: 'incident_root',
      event_payload: { incident_id: id, nonce: expect.stringMatching(/^[0-9a-f-]{36}$/) },
    });
    expect((await slashCommand(bot, `note ${ref} Looking at it`)).text).toContain('Noted');
    const reply = await waitFor(() => bot.slack.emulator.threadOf(CHANNEL, root.ts)[0], 20_000, 'reply');
    await waitForQueueIdle(bot.app.slackSync);
    expect(reply.metadata).toMatchObject({
      event_type: 'incident_entry',
      event_payload: { incident_id: id },
    });
    expect(bot.slack.emulator.callsOf('conversations.history')).toEqual([]);
    expect(bot.slack.emulator.callsOf('conversations.replies')).toEqual([]);
    expect(await intentsLeft(bot)).toBe(0);
  });

  it('adopts a root message Slack took but answered 503 to, instead of posting a second', async () => {
    const bot = await start();
    bot.slack.emulator.failNext('chat.postMessage', { status: 503, accepted: true });
    const { id, root } = await openIncident(bot, 'TakenThenFailed');
    await waitFor(
      async () =>
        (await bot.app.pool.query('SELECT root_ts FROM incidents WHERE id = $1', [id])).rows[0].root_ts,
      20_000,
      'the root recorded',
    );
    await waitForQueueIdle(bot.app.slackSync);
    expect(bot.slack.emulator.channelMessages(CHANNEL)).toHaveLength(1);
    const { rows } = await bot.app.pool.query('SELECT root_ts FROM incidents WHERE id = $1', [id]);
    expect(rows[0].root_ts).toBe(root.ts);
    expect(bot.slack.emulator.callsOf('chat.postMessage').map((c) => c.status)).toEqual([503]);
    expect(bot.slack.emulator.callsOf('conversations.history')[0]?.params).toMatchObject({
      channel: CHANNEL,
      include_all_metadata: 'true',
    });
    expect(await intentsLeft(bot)).toBe(0);
  });

  it('adopts a thread reply whose answer was lost, and marks the entries it shows', async () => {
    const bot = await start();
    const { ref, id, root } = await openIncident(bot, 'ReplyTaken');
    await waitForQueueIdle(bot.app.slackSync);
    bot.slack.emulator.failNext('chat.postMessage', { status: 500, accepted: true });
    await slashCommand(bot, `note ${ref} Rolled back`);
    await waitFor(() => bot.slack.emulator.callsOf('conversations.replies').length > 0, 20_000, 'a lookup');
    await waitForQueueIdle(bot.app.slackSync);
    const thread = bot.slack.emulator.threadOf(CHANNEL, root.ts);
    expect(thread).toHaveLength(1);
    expect(thread[0]!.text + JSON.stringify(thread[0]!.blocks)).toContain('Rolled back');
    const { rows } = await bot.app.pool.query(
      "SELECT slack_ts FROM timeline_entries WHERE incident_id = $1 AND kind = 'note'",
      [id],
    );
    expect(rows).toEqual([{ slack_ts: thread[0]!.ts }]);
    expect(await intentsLeft(bot)).toBe(0);
  });

  it('posts again when the lookup finds nothing: a 5xx before Slack took the post', async () => {
    const bot = await start();
    bot.slack.emulator.failNext('chat.postMessage', { status: 503 });
    await openIncident(bot, 'NeverTaken');
    await waitForQueueIdle(bot.app.slackSync);
    expect(bot.slack.emulator.channelMessages(CHANNEL)).toHaveLength(1);
    expect(bot.slack.emulator.callsOf('chat.postMessage').map((c) => c.status)).toEqual([503, 200]);
    expect(bot.slack.emulator.callsOf('conversations.history')).toHaveLength(1);
  });

  it('tells the thread what happened before the root message existed, but not the alerts it shows', async () => {
    const bot = await start();
    // The first root post waits, then fails: a note and a severity change land meanwhile.
    const held = bot.slack.emulator.hold('chat.postMessage');
    bot.slack.emulator.failNext('chat.postMessage', { status: 503 });
    const { incident: ref } = await jsonOf(
      await bot.deliver(payload({ group: 'BeforeRoot', alerts: [{ instance: 'a' }, { instance: 'b' }] })),
    );
    await held.reached;
    expect((await slashCommand(bot, `note ${ref} Paged the DBA`)).text).toContain('Noted');
    expect((await slashCommand(bot, `severity ${ref} P2`)).text).toBe(`${ref} is now P2.`);
    held.release();

    const root = await waitFor(() => bot.slack.emulator.channelMessages(CHANNEL)[0], 30_000, 'root message');
    await waitFor(() => bot.slack.emulator.threadOf(CHANNEL, root.ts).length > 0, 20_000, 'the thread');
    await waitForQueueIdle(bot.app.slackSync);
    const thread = bot.slack.emulator
      .threadOf(CHANNEL, root.ts)
      .map((m) => m.text + JSON.stringify(m.blocks))
      .join('\n');
    expect(thread).toContain('Paged the DBA');
    expect(thread).toContain('Severity changed from *P0* to *P2*');
    expect(thread).not.toContain('Error rate above 5% on a');
    const { rows } = await bot.app.pool.query(
      'SELECT count(*)::int AS n FROM timeline_entries WHERE slack_ts IS NULL',
    );
    expect(rows[0].n).toBe(0);
  });

  it('tells every note that piled up while Slack was away, more than one reply shows', async () => {
    const bot = await start();
    const { ref, root } = await openIncident(bot, 'PiledUp');
    await waitForQueueIdle(bot.app.slackSync);
    // Replies wait while the notes are taken: more notes than one reply has room for (maxAlertsShown).
    const held = bot.slack.emulator.hold('chat.postMessage');
    bot.slack.emulator.failNext('chat.postMessage', { status: 503 });
    for (let i = 1; i <= 25; i++) await slashCommand(bot, `note ${ref} Step ${i} done`);
    held.release();
    await waitFor(
      async () =>
        (
          await bot.app.pool.query(
            'SELECT count(*)::int AS n FROM timeline_entries WHERE slack_ts IS NULL AND incident_id = $1',
            [Number(ref.slice(4))],
          )
        ).rows[0].n === 0,
      30_000,
      'every note posted',
    );
    const thread = bot.slack.emulator
      .threadOf(CHANNEL, root.ts)
      .map((m) => JSON.stringify(m.blocks))
      .join('\n');
    for (let i = 1; i <= 25; i++) expect(thread).toContain(`Step ${i} done`);
  });
});
