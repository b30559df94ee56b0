// What the ack floors share (ack-floor.mjs, work-floor.mjs): a bare @slack/bolt App, the bot's own
// dependency, behind Bolt's own signature check (its HTTPReceiver), on a free port. Env:
// SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN, SLACK_API_URL; FLOOR_LOG=debug for Bolt's own log.
import { createServer } from 'node:net';
import { App, LogLevel } from '@slack/bolt';

// A free port: Bolt's HTTPReceiver takes a number, and 0 would leave us not knowing which.
const port = await new Promise((resolve) => {
  const probe = createServer().listen(0, '127.0.0.1', () => {
    const { port: free } = probe.address();
    probe.close(() => resolve(free));
  });
});

export const app = new App({
  token: process.env.SLACK_BOT_TOKEN,
  signingSecret: process.env.SLACK_SIGNING_SECRET,
  logLevel: process.env.FLOOR_LOG === 'debug' ? LogLevel.DEBUG : LogLevel.ERROR,
  clientOptions: { slackApiUrl: process.env.SLACK_API_URL },
  // As the bot: no conversation store, whose look-up makes an Error per request.
  convoStore: false,
});

/** Starts the app, and prints {"port":…} once it listens, as the bench waits for. */
export async function listen() {
  await app.start(port);
  console.log(JSON.stringify({ port }));
  process.on('SIGTERM', () => process.exit(0));
}
