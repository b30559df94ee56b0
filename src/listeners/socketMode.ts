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
/** How long a new socket may wait for Slack's hello before it is closed and another asked for. */
const HELLO_WITHIN_MS = 10_000;
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
    // The bot reconnects (connect, below): the client's own reconnection waits 5 s before asking again
    // after Slack recycles the connection, and a refusal it takes as final (a token revoked while the
    // bot runs) ended it for good, one unhandled rejection logged, the bot deaf and still ready.
    autoReconnectEnabled: false,
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
  const { client } = socket;
  let stopped = false;
  // Once: a start refused before it is the configuration's, told at start.
  let connected = false;
  // Sockets closed so far: a request's acknowledgement can tell whether the one it came by is gone.
  let closed = 0;
  let retryTimer: NodeJS.Timeout | undefined;

  let connecting: Promise<void> | undefined;
  /**
   * Opens a socket, at once, then again ever further apart while Slack fails it: up to
   * SOCKET_MODE_RETRY_MAX_MS through an outage, REFUSED_RETRY_MAX_MS while it refuses the token (each
   * refusal logged at error). Before the first connection, a refusal is thrown. One at a time: a second
   * caller waits for the first's.
   */
  const connect = (): Promise<void> => {
    connecting ??= connectNow().finally(() => {
      connecting = undefined;
    });
    return connecting;
  };
  const connectNow = async (): Promise<void> => {
    for (let failures = 0; !stopped; failures++) {
      try {
        await startWithinHello();
        connected = true;
        return;
      } catch (thrown) {
        // A socket that closed before Slack's hello rejects with nothing.
        const err = thrown ?? new Error('the socket closed before Slack said hello');
        if (stopped) return;
        const refused = refusedToken(err);
        if (refused && !connected) throw err;
        const waitMs = Math.min(
          500 * 2 ** failures,
          refused ? REFUSED_RETRY_MAX_MS : SOCKET_MODE_RETRY_MAX_MS,
        );
        if (refused)
          logger.error(
            { err, retryInMs: waitMs },
            'Slack refused to reconnect Socket Mode: no command, click or form reaches the bot until it accepts',
          );
        else logger.warn({ err, retryInMs: waitMs }, 'Socket Mode could not connect: trying again');
        await new Promise((resolve) => {
          retryTimer = setTimeout(resolve, waitMs);
        });
      }
    }
  };
  // A socket Slack took and never greeted would hold the start for ever, the bot deaf: once the client has
  // its URL (apps.connections.open's own retries are the client's), the hello has HELLO_WITHIN_MS, or the
  // socket is closed and the start fails, to be tried again.
  const startWithinHello = async (): Promise<void> => {
    let timer: NodeJS.Timeout | undefined;
    let armHelloTimer = () => {};
    const unheard = new Error(`Slack did not say hello within ${HELLO_WITHIN_MS} ms`);
    const hello = new Promise<never>((_, reject) => {
      armHelloTimer = () => {
        timer = setTimeout(() => reject(unheard), HELLO_WITHIN_MS);
      };
      client.once('authenticated', armHelloTimer);
    });
    const started = client.start();
    try {
      await Promise.race([started, hello]);
    } catch (err) {
      if (err === unheard) {
        // Closing it fails the start, which nothing waits on any more.
        started.catch(() => {});
        await client.disconnect();
      }
      throw err;
    } finally {
      clearTimeout(timer);
      client.off('authenticated', armHelloTimer);
    }
  };
  // Slack recycles a connection every few hours (it says so, then the client closes it), and a network
  // drops one: a connected bot reconnects at once. A failed try's close is its own loop's business.
  client.on('disconnected', () => {
    closed++;
    if (connected && !stopped && !connecting) void connect();
  });
  // A socket opening as the bot stops (apps.connections.open answering late) would take Slack's
  // requests into a process whose pools are ending: once stopped, it is closed as soon as Slack greets it.
  client.on('connected', () => {
    if (stopped) void client.disconnect();
  });
  const stop = () => {
    stopped = true;
    clearTimeout(retryTimer);
    return socket.stop();
  };
  const bolt: Receiver = {
    // The receiver calls nothing of the App but processEvent.
    init: (app: App) =>
      socket.init({
        processEvent: async (event: ReceiverEvent) => {
          const read = readSocketBody(event.body);
          if (!read.ok) {
            logger.warn({ reason: read.problem }, 'refused a malformed Socket Mode request');
            return event.ack();
          }
          const closedBefore = closed;
          const ack = ackOrRespond(event, () => closed !== closedBefore, logger);
          return dispatchToBolt(app, { ...event, ack }, logger);
        },
      } as App),
    start: connect,
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
        await connect();
      } catch (err) {
        throw refusedConnection(err);
      }
    },
    stop,
  };
}

// Slack's answers to apps.connections.open that no retry changes (the Socket Mode client's own list).
const TOKEN_REFUSALS = new Set([
  'not_authed',
  'invalid_auth',
  'account_inactive',
  'user_removed_from_team',
  'team_disabled',
]);

function refusedToken(err: unknown): boolean {
  return err instanceof WebAPIPlatformError && TOKEN_REFUSALS.has(err.data.error);
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
function ackOrRespond(
  event: ReceiverEvent,
  reconnected: () => boolean,
  logger: Logger,
): ReceiverEvent['ack'] {
  const responseUrl = event.body.command ? event.body.response_url : undefined;
  return async (response) => {
    try {
      // The client sends down its socket of now: an acknowledgement of a request that came by one since
      // closed may not count with Slack (a click's or form's goes all the same: it has no other way),
      // where a command's answer on its response_url does. Its empty acknowledgement goes first, which
      // shows nothing, in case Slack counts it.
      if (reconnected() && typeof responseUrl === 'string') {
        await event.ack().catch(() => {});
        throw new Error('the socket the command came by has closed');
      }
      await event.ack(response);
    } catch (err) {
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
