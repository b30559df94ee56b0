import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHealthyEndpoint } from '../support/healthEndpoint.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import { slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0QUIETONE';
const FIRST = 'U0FIRSTASK';
const SECOND = 'U0SECONDASK';

/**
 * A health check result waiting for the channel's turn (Slack's one message a second per channel, spent
 * by a storm's messages or other results): who asked sees it at once, only once; everyone sees it when
 * the channel's turn comes.
 */
describe('a health check result that waits for its channel', () => {
  let bot: TestBot;
  let endpoint: Awaited<ReturnType<typeof startHealthyEndpoint>>;

  beforeAll(async () => {
    endpoint = await startHealthyEndpoint();
    bot = await startTestBot({
      // One message, then one every 5 s in a channel: the second result waits about 5 s for its turn.
      configYaml: `${DEFAULT_TEST_CONFIG.replace(
        'postMessagePerChannel: { perMinute: 6000, burst: 100 }',
        'postMessagePerChannel: { perMinute: 12, burst: 1 }',
      )}
services:
  payments-api: { checks: [{ name: health, kind: http, url: '${endpoint.url}' }] }
`,
    });
  });
  afterAll(async () => {
    await bot?.stop();
    endpoint?.close();
  });

  const results = () =>
    bot.slack.emulator.channelMessages(CHANNEL).filter((m) => m.text.startsWith('Health checks'));
  const shownTo = (user: string) =>
    bot.slack.emulator.ephemerals(user).filter((m) => m.text.startsWith('Health checks'));

  it('shows who asked the result at once, and posts it for everyone at the channel’s turn', async () => {
    await slashCommand(bot, 'payments-api', { channel: CHANNEL, command: '/health', user: FIRST });
    await waitFor(() => results().length === 1, 20_000, 'the first result in the channel');
    await slashCommand(bot, 'payments-api', { channel: CHANNEL, command: '/health', user: SECOND });

    const [shown] = await waitFor(
      () => (shownTo(SECOND).length > 0 ? shownTo(SECOND) : undefined),
      20_000,
      'the second result shown to who asked',
    );
    // Before the channel's turn: the one message everyone sees has not been posted yet.
    expect(results()).toHaveLength(1);
    expect(JSON.stringify(shown!.blocks)).toContain('Only you see this for now');
    expect(shown!.blocks.some((b) => JSON.stringify(b).includes('*health*'))).toBe(true);

    await waitFor(() => results().length === 2, 20_000, 'the second result in the channel');
    await waitForQueueIdle(bot.app.health);
    // Once each: the result posted at the turn is the channel's, and says nothing of who alone sees it.
    expect(shownTo(SECOND)).toHaveLength(1);
    expect(shownTo(FIRST)).toHaveLength(0);
    expect(JSON.stringify(results()[1]!.blocks)).not.toContain('Only you see this');
  }, 60_000);
});
