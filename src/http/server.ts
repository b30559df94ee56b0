import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { Logger } from '../observability/logger.js';
import { sendJson } from './respond.js';

export type Handler = (req: IncomingMessage, res: ServerResponse) => void | Promise<void>;

export interface HttpRoutes {
  /** Bolt's receiver: Slack commands, interactivity and events, signature-checked by Bolt. */
  slackEvents?: RequestListener;
  alertmanager: Handler;
  /** Resolves when Postgres and Redis answer; rejects with the reason otherwise. */
  ready: () => Promise<void>;
  metrics: () => Promise<{ contentType: string; body: string }>;
  /** More routes by exact path: the sandbox's, in sandbox mode. */
  extra?: Record<string, Handler>;
}

/**
 * One port for everything, as DESIGN.md lists it. Routing is by exact path; each handler owns its
 * method checks and its answers.
 */
export function createHttpServer(routes: HttpRoutes, logger: Logger): Server & { draining: boolean } {
  const table: Record<string, Handler> = {
    '/alertmanager': routes.alertmanager,
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
  if (routes.slackEvents) table['/slack/events'] = routes.slackEvents;
  Object.assign(table, routes.extra);

  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    const handler = table[path];
    if (!handler) return sendJson(res, 404, { error: `no route for ${path}` });
    Promise.resolve(handler(req, res)).catch((err) => {
      logger.error({ err, path }, 'request handler failed');
      if (!res.headersSent) sendJson(res, 500, { error: 'internal error' });
      else res.destroy();
    });
  }) as Server & { draining: boolean };
  server.draining = false;
  // Alertmanager and Slack both keep connections alive; idle ones must not hold up a shutdown.
  server.keepAliveTimeout = 5000;
  return server;
}
