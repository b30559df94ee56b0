import { slackSignature } from '../slack/signing.js';

/** Headers for a request into the bot, signed with Slack's v0 scheme: the sandbox's and the tests' alike. */
export function slackSignatureHeaders(
  secret: string,
  body: string,
  timestamp = Math.floor(Date.now() / 1000),
) {
  return {
    'x-slack-request-timestamp': String(timestamp),
    'x-slack-signature': slackSignature(secret, String(timestamp), body),
  };
}
