import type { RequestListener } from 'node:http';
import { HTTPReceiver, type Receiver, SocketModeReceiver } from '@slack/bolt';
import type { Logger as SlackLogger } from '@slack/logger';
import { WebAPIPlatformError } from '@slack/web-api';
import { ConfigError, type Env } from '../config/index.js';

/** How Slack's commands and interactions reach Bolt: over HTTP on our port, or over Socket Mode. */
export interface SlackReceiver {
  /** For Bolt's App (`new App({ receiver })`). */
  readonly bolt: Receiver;
  /** Serves `/slack/events`; absent in Socket Mode, where Slack's requests come over the socket. */
  readonly requestListener?: RequestListener;
  /** Opens the socket in Socket Mode, resolving once Slack has said hello; nothing over HTTP. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** Socket Mode when SLACK_APP_TOKEN is set (no public URL needed); Slack's signed HTTP requests otherwise. */
export function createSlackReceiver(env: Env, logger: SlackLogger): SlackReceiver {
  if (env.SLACK_APP_TOKEN) {
    const socket = new SocketModeReceiver({
      appToken: env.SLACK_APP_TOKEN,
      logger,
      // apps.connections.open goes to the Web API the rest of the bot uses (GovSlack, the emulator).
      installerOptions: { clientOptions: { slackApiUrl: env.SLACK_API_URL } },
    });
    return {
      bolt: socket,
      start: async () => {
        try {
          await socket.start();
        } catch (err) {
          // Slack answered, and said no: the token is wrong, not the network (that is retried).
          if (!(err instanceof WebAPIPlatformError)) throw err;
          throw new ConfigError('environment', [
            `SLACK_APP_TOKEN: Slack refused it (${err.data.error}); expected an app-level token with connections:write`,
          ]);
        }
      },
      stop: () => socket.stop(),
    };
  }
  const http = new HTTPReceiver({
    // parseEnv requires the signing secret whenever SLACK_APP_TOKEN is unset.
    signingSecret: env.SLACK_SIGNING_SECRET!,
    endpoints: '/slack/events',
    logger,
  });
  return {
    bolt: http,
    requestListener: http.requestListener,
    // Our own server listens (src/http/server.ts); Bolt's receiver only answers the requests.
    start: async () => {},
    stop: async () => {},
  };
}
