import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { createHttpServer, type HttpServer } from '../../src/http/server.js';
import { createLogger } from '../../src/observability/logger.js';

/** One request, on a connection of its own unless an agent is given. */
function send(
  url: string,
  method = 'POST',
  agent: Agent | false = false,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, agent }, (res) => {
      let body = '';
      res.on('data', (chunk) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

let server: HttpServer | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise((resolve) => server?.close(resolve));
  server = undefined;
});

async function listen(s: HttpServer): Promise<string> {
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(s.address() as AddressInfo).port}`;
}

describe('the HTTP server when a handler throws', () => {
  it('answers 500 and logs a handler that throws before its first await; the process goes on', async () => {
    const lines: string[] = [];
    const log = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    server = createHttpServer(
      {
        slackEvents: () => {
          throw new Error('thrown at once');
        },
        alertmanager: async () => {
          throw new Error('thrown later');
        },
        ready: async () => {},
        metrics: async () => ({ contentType: 'text/plain', body: '' }),
      },
      createLogger('error', [], log),
    );
    const url = await listen(server);
    for (const path of ['/slack/events', '/alertmanager']) {
      const res = await send(`${url}${path}`, 'GET');
      expect(res.status).toBe(500);
      expect(JSON.parse(res.body)).toEqual({ error: 'internal error' });
    }
    expect((await send(`${url}/healthz`, 'GET')).status).toBe(200);
    expect(lines.map((l) => JSON.parse(l).err.message)).toEqual(['thrown at once', 'thrown later']);
  });
});

describe('the HTTP server while stopping', () => {
  it('turns Alertmanager away with a 503 it retries, and still serves Slack, which retries nothing', async () => {
    server = createHttpServer(
      {
        slackEvents: (_req, res) => {
          res.end('slack handled');
        },
        alertmanager: (_req, res) => {
          res.end('alertmanager handled');
        },
        ready: async () => {},
        metrics: async () => ({ contentType: 'text/plain', body: '' }),
      },
      createLogger('silent'),
    );
    const url = await listen(server);
    expect(await (await fetch(`${url}/alertmanager`, { method: 'POST' })).text()).toBe(
      'alertmanager handled',
    );

    server.draining = true;
    const alert = await send(`${url}/alertmanager`);
    expect(alert.status).toBe(503);
    expect(alert.headers['retry-after']).toBe('5');
    const click = await send(`${url}/slack/events`, 'POST', new Agent({ keepAlive: true }));
    expect(click.status).toBe(200);
    expect(click.body).toBe('slack handled');
    expect(click.headers.connection).toBe('close');
    expect((await send(`${url}/readyz`, 'GET')).status).toBe(503);
  });
});
