import { afterEach, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0PAYMENTS';
const BUSY = 6;

// Slack's own pace for one channel (1 message a second, no burst), so that replies queue for it.
const FAST = 'postMessagePerChannel: { perMinute: 6000, burst: 100 }';
const CONFIG = DEFAULT_TEST_CONFIG.replace(FAST, 'postMessagePerChannel: { perMinute: 60, burst: 1 }');

describe("a new incident's root message and the channel's budget", () => {
  let bot: TestBot | undefined;
  afterEach(async () => {
    await bot?.stop();
    bot = undefined;
  });

  it("is posted ahead of the thread replies already waiting for the channel's next slot", async () => {
    expect(CONFIG).not.toContain(FAST);
    bot = await startTestBot({ configYaml: CONFIG });
    const { emulator } = bot.slack;
    const alerts = (n: number) => Array.from({ length: n }, (_, i) => ({ instance: `host-${i}` }));
    for (let i = 0; i < BUSY; i++) await bot.deliver(payload({ group: `Busy${i}`, alerts: alerts(1) }));
    await waitFor(() => emulator.channelMessages(CHANNEL).length === BUSY, 30_000, 'the busy roots');
    await waitForQueueIdle(bot.app.slackSync);

    // Every busy incident grows: each has a thread reply to post, one a second.
    for (let i = 0; i < BUSY; i++) await bot.deliver(payload({ group: `Busy${i}`, alerts: alerts(2) }));
    const replies = () => emulator.allMessages().filter((m) => m.channel === CHANNEL && m.threadTs);
    await waitFor(() => replies().length >= 1, 10_000, 'the first reply');
    const newcomerAt = Date.now();
    await bot.deliver(payload({ group: 'Newcomer', alerts: alerts(1) }));
    await waitFor(() => replies().length === BUSY, 30_000, 'every reply');
    await waitForQueueIdle(bot.app.slackSync);

    const posts = emulator
      .callsOf('chat.postMessage')
      .filter((c) => c.ok && c.at >= newcomerAt)
      .map((c) => (c.params.thread_ts ? 'reply' : String(c.params.text)));
    const newcomer = posts.findIndex((p) => p.includes('Newcomer'));
    expect(newcomer).toBeGreaterThanOrEqual(0);
    // At most one reply had its slot already when the newcomer arrived; the rest waited behind its root.
    expect(newcomer).toBeLessThanOrEqual(1);
    expect(posts.slice(newcomer + 1).filter((p) => p === 'reply').length).toBeGreaterThanOrEqual(BUSY - 3);
  }, 90_000);
});
