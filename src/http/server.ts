import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { withLogContext } from '../observability/logContext.js';
import type { Logger } from '../observability/logger.js';
import { sendJson } from './respond.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpRoutes {
  /** Slack commands, interactivity and events, signature-checked (src/http/slackEvents.ts). */
  slackEvents?: Handler;
  /** Absent on a worker's port, which serves only health and metrics. */
  alertmanager?: Handler;
  /** Resolves when Postgres and Redis answer; rejects with the reason otherwise. */
  ready: () => Promise<void>;
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** More routes by exact path, or by prefix for a key ending in `*`: the sandbox's, in sandbox mode. */
  extra?: Record<string, Handler>;
}

export type HttpServer = Server & { draining: boolean };

/** Probes and scrapes: every few seconds, so logged at debug; still answered while stopping. */
const PROBE_PATHS = new Set(['/healthz', '/readyz', '/metrics']);
/** Responses whose request line is routine: see logAsRoutine. */
const routineResponses = new WeakSet<ServerResponse>();

/**
 * Logs this request's line at debug, as a probe's: a request that comes often and whose outcome is told
 * elsewhere, such as Alertmanager's notifications (the metrics count them, and the ingest logs what each
 * stored one changed), whose line at info was about a fifth of the bot's CPU for a repeat.
 */
export function logAsRoutine(res: ServerResponse): void {
  routineResponses.add(res);
}

/** An X-Request-Id from a proxy is kept when it looks like an id, not arbitrary text. */
const REQUEST_ID = /^[\w.:/+=@-]{1,128}$/;

/**
 * One port for everything, as DESIGN.md lists it. Routing is by exact path (or by a prefix ending in
 * `*`); each handler owns its method checks and its answers. Each request gets an id (the caller's
 * X-Request-Id when sane), sent back in X-Request-Id and written on every log line about it.
 */
export function createHttpServer(routes: HttpRoutes, logger: Logger): HttpServer {
  const table: Record<string, Handler> = {
    '/healthz': (_req, res) => sendJson(res, 200, { status: 'ok' }),
    '/readyz': async (_req, res) => {
      if (server.draining) return sendJson(res, 503, { status: 'shutting down' });
      try {
        await routes.ready();
        sendJson(res, 200, { status: 'ready' });
      } catch (err) {
        sendJson(res, 503, { status: 'not ready', reason: (err as Error).message });
      }
    },
    '/metrics': async (_req, res) => {
      const { contentType, body } = await routes.metrics();
      res.writeHead(200, { 'content-type': contentType });
      res.end(body);
    },
  };
  if (routes.alertmanager) table['/alertmanager'] = routes.alertmanager;
  if (routes.slackEvents) table['/slack/events'] = routes.slackEvents;
  Object.assign(table, routes.extra);
  const prefixes = Object.keys(table).filter((key) => key.endsWith('*'));
  const byPrefix = (path: string) => {
    const prefix = prefixes.find((key) => path.startsWith(key.slice(0, -1)));
    return prefix === undefined ? undefined : table[prefix];
  };

  const handle = (req: IncomingMessage, res: ServerResponse, path: string) => {
    const handler = table[path] ?? byPrefix(path);
    if (!handler) return sendJson(res, 404, { error: `no route for ${path}` });
    // Stopping: Alertmanager retries a 503, on another replica or once this one is back. Slack retries
    // no command or click, so those are still served: the stop waits for their handlers.
    if (server.draining && path === '/alertmanager') {
      return sendJson(res, 503, { error: 'shutting down, retry later' }, { 'retry-after': '5' });
    }
    const failed = (err: unknown) => {
      logger.error({ err, path }, 'request handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    };
    // A handler that throws before its first await must not take the process down with it.
    try {
      Promise.resolve(handler(req, res)).catch(failed);
    } catch (err) {
      failed(err);
    }
  };

  const server = createServer((req, res) => {
    const started = performance.now();
    const path = (req.url ?? '/').split('?')[0]!;
    const given = req.headers['x-request-id'];
    const requestId = typeof given === 'string' && REQUEST_ID.test(given) ? given : randomUUID();
    res.setHeader('x-request-id', requestId);
    // No keep-alive while stopping, so that the connections close once their requests are answered.
    if (server.draining) res.setHeader('connection', 'close');
    withLogContext({ requestId }, (context) => {
      // 'finish' may fire outside this context: the line takes the ids the request gathered.
      res.once('finish', () => {
        const ms = Math.round((performance.now() - started) * 10) / 10;
        const line = { ...context, method: req.method, path, status: res.statusCode, ms };
        // Probes, scrapes and the sandbox page's polling would drown the rest.
        const routine =
          PROBE_PATHS.has(path) ||
          (req.method === 'GET' && path.startsWith('/sandbox')) ||
          routineResponses.has(res);
        logger[routine ? 'debug' : 'info'](line, 'request');
        // Stopping: a keep-alive connection answered its last request and must not hold up the close.
        if (server.draining) setImmediate(() => server.closeIdleConnections());
      });
      handle(req, res, path);
    });
  }) as HttpServer;
  server.draining = false;
  // Alertmanager and Slack both keep connections alive; idle ones must not hold up a shutdown.
  server.keepAliveTimeout = 5000;
  return server;
}
