import type { App, Receiver, ReceiverEvent } from '@slack/bolt';
import { SocketModeReceiver } from '@slack/bolt';
import type { Logger as SlackLogger } from '@slack/logger';
import { WebAPIPlatformError } from '@slack/web-api';
import { ConfigError } from '../config/index.js';
import type { Logger } from '../observability/logger.js';
import { SlackRejectedError, SlackUnavailableError } from '../slack/errors.js';
import { postToResponseUrl } from '../slack/responseUrl.js';
import { checkAppToken, SLACK_CALL_TIMEOUT_MS } from '../slack/slackApi.js';
import { dispatchToBolt, readSocketBody } from './envelope.js';

/** How Slack's commands and interactions reach Bolt, when not over HTTP: a Socket Mode connection. */
export interface SocketModeConnection {
  /** For Bolt's App (`new App({ receiver })`). */
  readonly bolt: Receiver;
  /** Opens the socket, resolving once Slack has said hello. */
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** The longest wait between two tries of apps.connections.open while Slack fails it. */
export const SOCKET_MODE_RETRY_MAX_MS = 5_000;
/** The longest wait between two reconnections Slack refused (a revoked token): each is logged. */
const REFUSED_RETRY_MAX_MS = 60_000;

/**
 * Socket Mode (SLACK_APP_TOKEN): no public URL needed. What comes down the socket is checked as an HTTP
 * request would be (src/http/slackEvents.ts) before Bolt reads it; a malformed one is acknowledged, so
 * Slack does not send it again, and logged.
 */
export function createSocketModeConnection(
  appToken: string,
  slackApiUrl: string,
  boltLogger: SlackLogger,
  logger: Logger,
): SocketModeConnection {
  const socket = new SocketModeReceiver({
    appToken,
    logger: withoutPayloads(boltLogger),
    installerOptions: {
      clientOptions: {
        // apps.connections.open goes to the Web API the rest of the bot uses (GovSlack, the emulator).
        slackApiUrl,
        // The client's own policy waits 1.3 times longer after each failure, a hundred times: after an
        // hour's Slack outage the bot stayed deaf for twenty minutes more, and past the hundredth, for good.
        retryConfig: { forever: true, factor: 1.3, maxTimeout: SOCKET_MODE_RETRY_MAX_MS },
        // Without one, a call that Slack (or a proxy) never answers holds up the reconnection for minutes.
        timeout: SLACK_CALL_TIMEOUT_MS,
      },
    },
  });
  // A reconnection already under way when the bot stops (apps.connections.open answering late) would
  // open a socket that nothing closes, taking Slack's requests into a process whose pools are ending:
  // once stopped, a socket is closed as soon as Slack greets it.
  let stopped = false;
  socket.client.on('connected', () => {
    if (stopped) void socket.client.disconnect();
  });
  const stop = () => {
    stopped = true;
    clearTimeout(retryTimer);
    return socket.stop();
  };
  // The client reconnects by calling its start() again and drops what that throws: a reconnection
  // refused for good in its eyes (the app token revoked or regenerated while the bot runs, a proxy's
  // 4xx) would leave the bot deaf to every command, click and form, with its webhook still answering.
  // Once the bot has connected, a refused start is logged and tried again, at most every minute.
  let connected = false;
  let retryTimer: NodeJS.Timeout | undefined;
  const startClient = socket.client.start.bind(socket.client);
  socket.client.start = async () => {
    for (let waitMs = SOCKET_MODE_RETRY_MAX_MS; ; waitMs = Math.min(2 * waitMs, REFUSED_RETRY_MAX_MS)) {
      try {
        const hello = await startClient();
        connected = true;
        return hello;
      } catch (err) {
        if (!connected || stopped) throw err;
        logger.error(
          { err, retryInMs: waitMs },
          'Slack refused to reconnect Socket Mode: no command, click or form reaches the bot until it accepts',
        );
        await new Promise((resolve) => {
          retryTimer = setTimeout(resolve, waitMs);
        });
        // Nothing waits on a reconnection's answer.
        if (stopped) return { ok: false, error: 'stopped' };
      }
    }
  };
  const bolt: Receiver = {
    // The receiver calls nothing of the App but processEvent.
    init: (app: App) =>
      socket.init({
        processEvent: async (event: ReceiverEvent) => {
          const read = readSocketBody(event.body);
          if (read.ok) return dispatchToBolt(app, { ...event, ack: ackOrRespond(event, logger) }, logger);
          logger.warn({ reason: read.problem }, 'refused a malformed Socket Mode request');
          await event.ack();
        },
      } as App),
    start: () => socket.start(),
    stop,
  };
  return {
    bolt,
    start: async () => {
      try {
        // Asked once first, without the client's tries, which go on for ever and say nothing: a refusal
        // there (a wrong URL, a proxy's 403) is the configuration's, told now. An outage is waited out.
        await checkAppToken(appToken, slackApiUrl).catch((err: unknown) => {
          if (!(err instanceof SlackUnavailableError)) throw err;
          logger.warn({ err }, 'Slack did not answer apps.connections.open: asking again until it does');
        });
        await socket.start();
      } catch (err) {
        throw refusedConnection(err);
      }
    },
    stop,
  };
}

/** A refusal of apps.connections.open as the configuration problem it is; any other error as it is. */
function refusedConnection(err: unknown): unknown {
  // Slack answered, and said no: the token is wrong, not the network.
  const slackError =
    err instanceof WebAPIPlatformError
      ? err.data.error
      : err instanceof SlackRejectedError
        ? err.slackError
        : undefined;
  if (slackError === undefined) return err;
  const status = /^http_(\d+)$/.exec(slackError)?.[1];
  return new ConfigError('environment', [
    status
      ? `SLACK_API_URL: apps.connections.open was refused there with HTTP ${status}, which Slack's Web API does not answer; check the URL and any proxy on the way`
      : `SLACK_APP_TOKEN: Slack refused it (${slackError}); expected an app-level token with connections:write`,
  ]);
}

/**
 * The Socket Mode client and Bolt's acknowledgement log each message of the socket whole, at debug: what
 * people typed, a command's response_url (anyone holding it may post to the channel for 30 minutes) and
 * Slack's verification token, in text the log's scrubbing cannot read. Their lines are kept, their JSON
 * (from its first brace) left out.
 */
function withoutPayloads(logger: SlackLogger): SlackLogger {
  return {
    ...logger,
    debug: (...msg) =>
      logger.debug(...msg.map((m) => (typeof m === 'string' ? m.replace(/\{[\s\S]*$/, '{…}') : m))),
  };
}

/**
 * The acknowledgement goes down the socket the request came by. Should that socket have closed since
 * (Slack recycles connections; the client reconnects seconds later), a slash command's answer goes to
 * its response_url instead: the command has run, and the person is told what it did, not that it failed.
 * Any other acknowledgement lost so is the listener's failure, as before.
 */
function ackOrRespond(event: ReceiverEvent, logger: Logger): ReceiverEvent['ack'] {
  return async (response) => {
    try {
      await event.ack(response);
    } catch (err) {
      const responseUrl = event.body.command ? event.body.response_url : undefined;
      if (typeof responseUrl !== 'string') throw err;
      logger.warn(
        { err },
        "the socket closed before a command's acknowledgement: answering on its response_url",
      );
      // An empty acknowledgement (a form opens next) has nothing to tell.
      if (response === undefined || (typeof response === 'object' && Object.keys(response).length === 0))
        return;
      await postToResponseUrl(responseUrl, response);
    }
  };
}
