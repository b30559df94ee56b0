import { createHmac } from 'node:crypto';

/** Headers for a request into the bot, signed with Slack's v0 scheme: the sandbox's and the tests' alike. */
export function slackSignatureHeaders(
  secret: string,
  body: string,
  timestamp = Math.floor(Date.now() / 1000),
) {
  const signature = `v0=${createHmac('sha256', secret).update(`v0:${timestamp}:${body}`).digest('hex')}`;
  return { 'x-slack-request-timestamp': String(timestamp), 'x-slack-signature': signature };
}
