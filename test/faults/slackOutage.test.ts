import { afterEach, describe, expect, it } from 'vitest';
import { slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';
import { slackOutage, slackRateLimited } from './slackScenarios.js';

const CHANNEL = 'C0PAYMENTS';

describe('Slack faults: what Slack and Postgres end up showing', () => {
  const bots: TestBot[] = [];
  afterEach(async () => {
    for (const bot of bots.splice(0)) await bot.stop();
  });
  const scenarioBot = async (configYaml?: string) => {
    const bot = await startTestBot(configYaml ? { configYaml } : {});
    bots.push(bot);
    return { deliver: bot.deliver, slack: bot.slack.emulator, pool: bot.app.pool, channel: CHANNEL };
  };

  it("answers commands though Slack failed the bot's first calls as it started", async () => {
    const bot = await startTestBot({
      beforeStart: (slack) => slack.failNext('auth.test', { error: 'internal_error' }, 5),
    });
    bots.push(bot);
    const list = await slashCommand(bot, 'list');
    expect(list).toMatchObject({ status: 200, responseType: 'ephemeral' });
    expect(list.text).toBe('0 open incidents');
  });

  it('scenario 1: after 60 s of 5xx to everything, 20 groups delivered twice each show one root each, seconds after Slack returns', async () => {
    // Each root posted into the outage has an unknown outcome, so it is looked for in the channel's
    // history before being posted again: with the default history limit (50 a minute, burst 5), one scan
    // of the channel settles them all, rather than 20 lookups at 50 a minute.
    const bot = await scenarioBot();
    // By the end of the outage the syncs back off 30 to 60 s; only the probe brings Slack up to date
    // within this deadline.
    const result = await slackOutage(bot, { groups: 20, outageMs: 60_000, deadlineMs: 15_000 });
    expect(result).toMatchObject({ deliveries: 40, accepted: 40, roots: 20, duplicates: 0 });
    // The probe asked Slack, not every waiting sync.
    expect(bot.slack.callsOf('auth.test').length).toBeLessThan(60);
    // At most the history's burst of lookups read it; the other lookups were answered by their scans.
    expect(bot.slack.callsOf('conversations.history').filter((c) => c.ok).length).toBeLessThanOrEqual(5);
  }, 120_000);

  it('scenario 2: through 30 answers of 429 with Retry-After: 2, no chat.postMessage inside a window, and one root per group with its final count', async () => {
    // Slack's own pace for chat.postMessage (one a second per channel), so that no two posts are in
    // flight together and every post after a 429 was sent after the bot had read it.
    const bot = await scenarioBot(
      DEFAULT_TEST_CONFIG.replace(
        'postMessagePerChannel: { perMinute: 6000, burst: 100 }',
        'postMessagePerChannel: { perMinute: 60, burst: 1 }',
      ),
    );
    const result = await slackRateLimited(bot, {
      groups: 10,
      answers: 30,
      retryAfterSeconds: 2,
      finalAlerts: 3,
      deadlineMs: 120_000,
    });
    expect(result).toMatchObject({
      deliveries: 30,
      accepted: 30,
      roots: 10,
      duplicates: 0,
      finalCountShown: 10,
    });
    const posts = bot.slack.callsOf('chat.postMessage');
    for (const limited of posts.filter((c) => c.status === 429)) {
      expect(posts.filter((c) => c.at > limited.at && c.at < limited.at + 2000)).toEqual([]);
    }
  }, 240_000);
});
