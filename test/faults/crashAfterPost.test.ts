import { afterEach, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { type ChildBot, startChild, stopChild } from '../support/childWorker.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0PAYMENTS';

/**
 * Fault scenario 5: `incident-bot serve` SIGKILLed after Slack took a root post and before the bot
 * recorded its ts, then started again. Slack ends with one root per incident: the orphan is adopted,
 * never joined by a second.
 */
describe('a crash between a post and its record', () => {
  const bots: TestBot[] = [];
  const children: ChildBot[] = [];
  afterEach(async () => {
    for (const child of children.splice(0)) await stopChild(child.process, 'SIGKILL');
    for (const bot of bots.splice(0)) await bot.stop();
  });

  /** Slack and the database; every job runs in the `serve` children the test starts and kills. */
  const start = async () => {
    const bot = await startTestBot({ worker: false });
    bots.push(bot);
    return bot;
  };
  const serve = async (bot: TestBot) => {
    const child = await startChild(bot, ['serve']);
    children.push(child);
    return child;
  };
  const kill = async (child: ChildBot) => {
    await stopChild(child.process, 'SIGKILL');
    children.splice(children.indexOf(child), 1);
  };
  /** Delivers as Alertmanager does: again until it is stored, whichever process is up by then. */
  const deliver = async (url: () => string, body: object) => {
    for (;;) {
      const res = await fetch(`${url()}/alertmanager`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
      }).catch(() => undefined);
      if (res?.status === 200) return (await res.json()) as { incident: string };
      await new Promise((r) => setTimeout(r, 200));
    }
  };
  const roots = async (bot: TestBot) =>
    (
      await bot.app.pool.query<{ id: number; root_ts: string | null; synced: boolean }>(
        'SELECT id::int AS id, root_ts, root_version = version AS synced FROM incidents ORDER BY id',
      )
    ).rows;

  it('adopts the root Slack took before the kill, and posts no second', async () => {
    const bot = await start();
    const first = await serve(bot);
    const held = bot.slack.emulator.holdAnswer('chat.postMessage');
    const { incident } = await deliver(
      () => `http://127.0.0.1:${first.port}`,
      payload({ group: 'KilledMidPost', alerts: [{ instance: 'a' }] }),
    );
    await held.reached;
    await kill(first);
    held.release();
    expect(bot.slack.emulator.channelMessages(CHANNEL)).toHaveLength(1);
    expect(await roots(bot)).toEqual([expect.objectContaining({ root_ts: null })]);

    await serve(bot);
    const [root] = await waitFor(
      async () => {
        const rows = await roots(bot);
        return rows[0]?.root_ts ? rows : undefined;
      },
      90_000,
      `${incident}'s root recorded after the restart`,
    );
    await waitForQueueIdle(bot.app.slackSync, 60_000);
    const messages = bot.slack.emulator.channelMessages(CHANNEL);
    expect(messages).toHaveLength(1);
    expect(root!.root_ts).toBe(messages[0]!.ts);
    expect(bot.slack.emulator.callsOf('chat.postMessage')).toHaveLength(1);
    expect(bot.slack.emulator.callsOf('conversations.history').length).toBeGreaterThan(0);
  }, 180_000);

  it('shows each of 50 growing groups once, with its final count, through a kill at a random moment', async () => {
    const bot = await start();
    let child = await serve(bot);
    const url = () => `http://127.0.0.1:${child.port}`;
    const GROUPS = 50;
    const ROUNDS = 3;
    const killAfter = 1 + Math.floor(Math.random() * 60);

    const storm = (async () => {
      for (let round = 1; round <= ROUNDS; round++) {
        await Promise.all(
          Array.from({ length: GROUPS }, (_, g) =>
            deliver(
              url,
              payload({
                group: `Storm${g}`,
                alerts: Array.from({ length: round }, (_, i) => ({ instance: `pod-${i}` })),
              }),
            ),
          ),
        );
      }
    })();
    // The kill lands just after Slack took a post, whichever it is, with others in flight.
    await waitFor(
      () => bot.slack.emulator.callsOf('chat.postMessage').length >= killAfter,
      60_000,
      `${killAfter} posts`,
    );
    const held = bot.slack.emulator.holdAnswer('chat.postMessage');
    await held.reached;
    await kill(child);
    held.release();
    child = await serve(bot);
    await storm;

    await waitFor(
      async () => {
        const rows = await roots(bot);
        return rows.length === GROUPS && rows.every((r) => r.root_ts && r.synced);
      },
      120_000,
      'every incident shown and up to date',
    );
    await waitForQueueIdle(bot.app.slackSync, 60_000);
    const rows = await roots(bot);
    const messages = bot.slack.emulator.channelMessages(CHANNEL);
    expect(messages.map((m) => m.ts).sort()).toEqual(rows.map((r) => r.root_ts).sort());
    for (const message of messages) {
      expect(JSON.stringify(message.blocks), `killed after ${killAfter} posts`).toContain(
        `${ROUNDS} firing, 0 resolved`,
      );
    }
  }, 300_000);
});
