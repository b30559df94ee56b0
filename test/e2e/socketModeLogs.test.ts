import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slashCommandFields } from '../support/slackRequests.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

describe('Socket Mode at LOG_LEVEL=debug', () => {
  let bot: TestBot;
  const logged: string[] = [];
  beforeAll(async () => {
    bot = await startTestBot({
      env: { SLACK_APP_TOKEN: TEST_SECRETS.appToken, SLACK_SIGNING_SECRET: '' },
      logTo: { write: (line: string) => logged.push(line) },
    });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it("logs neither a command's response_url, its verification token nor what the person typed", async () => {
    const fields = {
      ...slashCommandFields('note the primary db password is hunter2-on-purpose'),
      token: 'verification-token-kept-out-of-logs',
      response_url: 'https://hooks.slack.com/commands/T0SANDBOX/1234/capability-kept-out-of-logs',
    };
    await bot.slack.emulator.socketMode.deliver('slash_commands', fields);
    const all = logged.join('');
    expect(all).not.toContain('capability-kept-out-of-logs');
    expect(all).not.toContain('verification-token-kept-out-of-logs');
    expect(all).not.toContain('hunter2-on-purpose');
    // The lines themselves stay, for whoever debugs the connection.
    expect(all).toContain('Received a message on the WebSocket: {…}');
  });
});
