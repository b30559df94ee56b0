import { readdir, readFile } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { WebhookPayload } from '../alerts/payload.js';
import { HttpError, readBody, sendJson } from '../http/respond.js';
import type { Handler } from '../http/server.js';
import { type AlertmanagerStandIn, STAND_IN_PATH } from './alertmanagerStandIn.js';
import type { SampleAlerts } from './sampleAlerts.js';
import { type SandboxClient, SandboxError } from './sandboxClient.js';
import type { WorkspaceState } from './workspaceState.js';

/**
 * The sandbox page and its API, routed by the bot's own server in sandbox mode only. The page is plain
 * HTML, CSS and JavaScript modules from src/sandbox/page, served as they are.
 */

const PAGE_DIR = fileURLToPath(new URL('../../src/sandbox/page/', import.meta.url));
const BODY_LIMIT = 64 * 1024;
const TYPES: Record<string, string> = {
  html: 'text/html; charset=utf-8',
  css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8',
};
// The page runs only its own files: even a rendering mistake could not run a script from an alert.
const CONTENT_SECURITY_POLICY =
  "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

const Id = z.string().regex(/^[A-Z0-9]{2,32}$/, 'expected a Slack id');
const Schemas = {
  command: z.strictObject({ user: Id, channel: Id, text: z.string().min(1).max(4000) }),
  click: z.strictObject({
    user: Id,
    channel: Id,
    ts: z.string().regex(/^\d+\.\d+$/),
    block: z.number().int().min(0).max(100),
    actionId: z.string().min(1).max(255),
  }),
  submit: z.strictObject({
    user: Id,
    view: Id,
    values: z.record(z.string().max(255), z.string().max(3000).nullable()),
  }),
  close: z.strictObject({ user: Id, view: Id }),
  alert: z.strictObject({ sample: z.string().regex(/^[a-z0-9.-]{1,100}$/) }),
};

export interface SandboxRouteDeps {
  client: SandboxClient;
  samples: SampleAlerts;
  state: (user: string) => WorkspaceState;
  /** Delivers a payload to the bot's /alertmanager with its bearer token; answers the bot's reply. */
  deliverAlert: (payload: WebhookPayload) => Promise<{ status: number; body: unknown; channel: string }>;
  /** The port the bot listens on, once it does: requests must name it in their Host header. */
  port: () => number | undefined;
  /** The Alertmanager the demo config writes silences to. */
  alertmanager: AlertmanagerStandIn;
}

export async function sandboxRoutes(deps: SandboxRouteDeps): Promise<Record<string, Handler>> {
  const routes: Record<string, Handler> = {};
  for (const file of await readdir(PAGE_DIR)) {
    const type = TYPES[file.split('.').pop() ?? ''];
    if (!type) continue;
    const body = await readFile(`${PAGE_DIR}${file}`);
    const path = file === 'index.html' ? '/sandbox' : `/sandbox/${file}`;
    routes[path] = guarded(deps, 'GET', async (_req, res) => {
      res.writeHead(200, {
        'content-type': type,
        'cache-control': 'no-store',
        'content-security-policy': CONTENT_SECURITY_POLICY,
        'x-content-type-options': 'nosniff',
      });
      res.end(body);
    });
  }

  routes['/sandbox/api/state'] = guarded(deps, 'GET', async (req, res) => {
    const user = Id.safeParse(new URL(req.url ?? '/', 'http://x').searchParams.get('user'));
    if (!user.success) throw new HttpError(400, 'user: expected a Slack user id');
    sendJson(res, 200, { ...deps.state(user.data), samples: deps.samples.list() });
  });
  routes['/sandbox/api/command'] = post(deps, Schemas.command, async (b) => {
    await deps.client.command(b.user, b.channel, b.text);
    return {};
  });
  routes['/sandbox/api/click'] = post(deps, Schemas.click, async (b) => {
    await deps.client.click(b.user, b.channel, b.ts, b.block, b.actionId);
    return {};
  });
  routes['/sandbox/api/submit'] = post(deps, Schemas.submit, (b) =>
    deps.client.submit(b.user, b.view, b.values),
  );
  routes['/sandbox/api/close'] = post(deps, Schemas.close, async (b) => {
    deps.client.close(b.user, b.view);
    return {};
  });
  routes['/sandbox/api/alert'] = post(deps, Schemas.alert, async (b) => {
    const payload = deps.samples.payload(b.sample);
    if (!payload) throw new HttpError(404, `no sample alert ${b.sample}`);
    return deps.deliverAlert(payload);
  });
  // The response_url the sandbox hands the bot with every command and click.
  routes['/sandbox/api/respond'] = guarded(deps, 'POST', async (req, res) => {
    const key = new URL(req.url ?? '/', 'http://x').searchParams.get('key') ?? '';
    const body = parseJson(await readBody(req, BODY_LIMIT));
    const answer = deps.client.respond(
      key,
      body && typeof body === 'object' ? (body as Record<string, unknown>) : {},
    );
    sendJson(res, answer.status, answer.error ? { ok: false, error: answer.error } : { ok: true });
  });
  // The bot's own requests, not the page's: no Origin, and Alertmanager's methods.
  routes[`${STAND_IN_PATH}*`] = async (req, res) => {
    try {
      checkHost(deps, req);
      const path = (req.url ?? '/').split('?')[0]!.slice(STAND_IN_PATH.length);
      const body = req.method === 'POST' ? parseJson(await readBody(req, BODY_LIMIT)) : undefined;
      const answer = deps.alertmanager.answer(req.method ?? 'GET', path, body);
      sendJson(res, answer.status, answer.body);
    } catch (err) {
      if (err instanceof HttpError) return sendJson(res, err.status, err.message, err.headers);
      throw err;
    }
  };
  return routes;
}

/**
 * Only this machine's browser may use the sandbox: the Host header must name the bot's own address
 * (no DNS rebinding), and a POST must be JSON from the page's own origin (no cross-site form posts).
 */
function guarded(
  deps: SandboxRouteDeps,
  method: 'GET' | 'POST',
  handle: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Handler {
  return async (req, res) => {
    try {
      if (req.method !== method) throw new HttpError(405, `use ${method}`, { allow: method });
      const host = checkHost(deps, req);
      const origin = req.headers.origin;
      if (method === 'POST' && origin !== undefined && origin !== `http://${host}`) {
        throw new HttpError(403, 'cross-origin requests are refused');
      }
      if (method === 'POST' && !(req.headers['content-type'] ?? '').startsWith('application/json')) {
        throw new HttpError(415, 'expected application/json');
      }
      await handle(req, res);
    } catch (err) {
      if (err instanceof HttpError) return sendJson(res, err.status, { error: err.message }, err.headers);
      if (err instanceof SandboxError) return sendJson(res, err.status, { error: err.message });
      throw err;
    }
  };
}

/** The Host header, when it names the bot's own address (no DNS rebinding). */
function checkHost(deps: SandboxRouteDeps, req: IncomingMessage): string {
  const port = deps.port();
  const host = req.headers.host ?? '';
  if (port === undefined || ![`127.0.0.1:${port}`, `localhost:${port}`].includes(host)) {
    throw new HttpError(403, 'the sandbox answers only on 127.0.0.1 and localhost');
  }
  return host;
}

function post<T>(deps: SandboxRouteDeps, schema: z.ZodType<T>, act: (body: T) => Promise<unknown>): Handler {
  return guarded(deps, 'POST', async (req, res) => {
    const parsed = schema.safeParse(parseJson(await readBody(req, BODY_LIMIT)));
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new HttpError(400, `${issue.path.join('.') || 'body'}: ${issue.message}`);
    }
    sendJson(res, 200, await act(parsed.data));
  });
}

function parseJson(body: Buffer): unknown {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    throw new HttpError(400, 'expected a JSON body');
  }
}
