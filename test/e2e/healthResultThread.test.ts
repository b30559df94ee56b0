import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackRateLimiter } from '../../src/slack/rateLimiter.js';
import { payload } from '../support/alertmanager.js';
import { healthResultsSettled, paymentsApiChecked, startHealthyEndpoint } from '../support/healthEndpoint.js';
import { waitFor } from '../support/services.js';
import { slashCommand } from '../support/slackRequests.js';
import { jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0PAYMENTS';

/** In a shared channel an incident's result goes in its thread, even when asked for before its root is in Slack. */
describe('a /health result for an incident whose root is not posted yet', () => {
  let bot: TestBot;
  let redis: Redis;
  let endpoint: Awaited<ReturnType<typeof startHealthyEndpoint>>;

  beforeAll(async () => {
    endpoint = await startHealthyEndpoint();
    bot = await startTestBot({
      configYaml: paymentsApiChecked(endpoint.url),
    });
    redis = new Redis(bot.env.REDIS_URL!);
  });
  afterAll(async () => {
    await bot?.stop();
    redis?.disconnect();
    endpoint?.close();
  });

  it('goes in the incident’s thread, not the channel', async () => {
    // The channel's next message is a few seconds away (a storm, Slack's rate limit): the root waits.
    await new SlackRateLimiter(redis, bot.env.QUEUE_PREFIX!).block(`chat.postMessage:${CHANNEL}`, 3000);
    const { incident } = await jsonOf(
      await bot.deliver(payload({ group: 'NoRootYet', alerts: [{ instance: 'a' }] })),
    );
    const answer = await slashCommand(bot, 'payments-api', { channel: CHANNEL, command: '/health' });
    expect(answer.text).toContain(`for ${incident}`);
    // Asked before the root was in Slack: no thread to name then.
    const { rows } = await bot.app.pool.query('SELECT root_ts FROM incidents WHERE id = $1', [
      Number(incident!.slice('INC-'.length)),
    ]);
    expect(rows).toEqual([{ root_ts: null }]);

    const health = (m: { text: string }) => m.text.startsWith('Health checks');
    const root = await waitFor(
      () => bot.slack.emulator.channelMessages(CHANNEL).find((m) => !health(m)),
      20_000,
      'the root',
    );
    await healthResultsSettled(bot);
    const topLevel = bot.slack.emulator.channelMessages(CHANNEL).filter(health);
    const inThread = bot.slack.emulator.threadOf(CHANNEL, root.ts).filter(health);
    expect({ topLevel: topLevel.length, inThread: inThread.length }).toEqual({ topLevel: 0, inThread: 1 });
    expect(answer.text).toContain('results follow in its thread');
  }, 40_000);
});
