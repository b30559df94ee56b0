import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/services.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const SOCKET_MODE = { SLACK_APP_TOKEN: TEST_SECRETS.appToken, SLACK_SIGNING_SECRET: '' };

let bot: TestBot | undefined;
afterEach(async () => {
  await bot?.stop();
  bot = undefined;
});

describe('Socket Mode when Slack recycles the connection', () => {
  it('opens no socket once stopped, even when the reconnection was under way', async () => {
    bot = await startTestBot({ env: SOCKET_MODE });
    const { emulator } = bot.slack;
    // Slack asks for a new connection; the bot's apps.connections.open is still unanswered when it stops.
    const open = emulator.hold('apps.connections.open');
    emulator.socketMode.refresh();
    await open.reached;
    expect(emulator.socketMode.connections).toBe(0);
    const stopped = bot.app.stop();
    open.release();
    await stopped;
    // The URL it was given was used, or not, by now: either way no socket stays open.
    await waitFor(() => emulator.socketMode.opened === 2, 20_000, 'the late connection');
    await waitFor(() => emulator.socketMode.connections === 0, 20_000, 'no socket open after stop');
  });
});
