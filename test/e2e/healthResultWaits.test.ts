import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RequestedChecks, requeueHealthCheck } from '../../src/queues/healthJobs.js';
import { SlackRateLimiter } from '../../src/slack/rateLimiter.js';
import { paymentsApiChecked, startHealthyEndpoint } from '../support/healthEndpoint.js';
import { waitFor } from '../support/services.js';
import { slashCommand } from '../support/slackRequests.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0QUIETONE';
const ASKER = 'U0ASKER';
const CHANNEL_POSTS = `chat.postMessage:${CHANNEL}`;

/**
 * A health check result waiting for its channel's turn (Slack's one message a second per channel, spent
 * by a storm's messages or other results): who asked sees it at once, and only once; everyone sees the
 * result of the checks run again at the channel's turn.
 */
describe('a health check result that waits for its channel', () => {
  let bot: TestBot;
  let endpoint: Awaited<ReturnType<typeof startHealthyEndpoint>>;
  let redis: Redis;
  let limiter: SlackRateLimiter;

  beforeAll(async () => {
    endpoint = await startHealthyEndpoint();
    bot = await startTestBot({
      configYaml: paymentsApiChecked(endpoint.url),
    });
    redis = new Redis(bot.env.REDIS_URL!);
    limiter = new SlackRateLimiter(redis, bot.env.QUEUE_PREFIX!);
  });
  afterAll(async () => {
    await bot?.stop();
    redis?.disconnect();
    endpoint?.close();
  });

  const results = () =>
    bot.slack.emulator.channelMessages(CHANNEL).filter((m) => m.text.startsWith('Health checks'));
  const shown = () => bot.slack.emulator.ephemerals(ASKER).filter((m) => m.text.startsWith('Health checks'));
  /** The job once it waits again for the channel, after it last ran at `after`. */
  const waitingAgain = (after: number) =>
    waitFor(
      async () => {
        const [job] = await bot.app.health.getDelayed();
        return job && job.processedOn! > after ? job : undefined;
      },
      20_000,
      'the check waiting for its channel',
    );

  it('shows who asked the result at once, once, and posts it for everyone at the channel’s turn', async () => {
    // The channel's turn is a minute away (Slack's 429 holds a key the same way).
    await limiter.block(CHANNEL_POSTS, 60_000);
    await slashCommand(bot, 'payments-api', { channel: CHANNEL, command: '/health', user: ASKER });

    const first = await waitingAgain(0);
    expect(shown()).toHaveLength(1);
    expect(JSON.stringify(shown()[0]!.blocks)).toContain('Only you see this for now');
    expect(JSON.stringify(shown()[0]!.blocks)).toContain('*health*');
    expect(results()).toHaveLength(0);

    // Back before its turn (a retry, a restart's look): the checks run again, and it is not shown again.
    await first.promote();
    const again = await waitingAgain(first.processedOn!);
    expect(shown()).toHaveLength(1);
    expect(results()).toHaveLength(0);

    // The channel's turn.
    await limiter.block(CHANNEL_POSTS, 1);
    await again.promote();
    await waitFor(() => results().length === 1, 20_000, 'the result in the channel');
    expect(JSON.stringify(results()[0]!.blocks)).not.toContain('Only you see this');
    expect(shown()).toHaveLength(1);
  }, 60_000);

  it('does not show who asked again when the sweep queues the request anew', async () => {
    const channel = 'C0QUIETTWO';
    const asker = 'U0ASKERTWO';
    const shownTo = () => bot.slack.emulator.ephemerals(asker);
    await limiter.block(`chat.postMessage:${channel}`, 60_000);
    await slashCommand(bot, 'payments-api', { channel, command: '/health', user: asker });
    const first = await waitingAgain(0);
    expect(shownTo()).toHaveLength(1);

    // Redis loses the job, and the workers' sweep queues the request again.
    await first.remove();
    await requeueHealthCheck(bot.app.health, (first.data as RequestedChecks).requestId);
    await waitingAgain(first.processedOn!);
    expect(shownTo()).toHaveLength(1);
  }, 60_000);
});
