import { Agent, request } from 'node:http';
import type { AddressInfo } from 'node:net';
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

describe('the HTTP server while stopping', () => {
  let server: HttpServer | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  it('turns Alertmanager away with a 503 it retries, and still serves Slack, which retries nothing', async () => {
    server = createHttpServer(
      {
        slackEvents: (_req, res) => res.end('slack handled'),
        alertmanager: (_req, res) => {
          res.end('alertmanager handled');
        },
        ready: async () => {},
        metrics: async () => ({ contentType: 'text/plain', body: '' }),
      },
      createLogger('silent'),
    );
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
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
