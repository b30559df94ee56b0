import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DriverRun } from '../../../src/actions/drivers/driver.js';
import { HttpSettingsSchema } from '../../../src/actions/drivers/http.js';
import { createDriver, placeholdersOf } from '../../../src/actions/drivers/index.js';

interface Received {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
  body: string;
}

const TOKEN = 'tok-9f8e7d6c5b4a';
let server: Server;
let base: string;
let received: Received[] = [];

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk) => {
      body += chunk;
    });
    req.on('end', () => {
      received.push({ method: req.method!, url: req.url!, headers: req.headers, body });
      const path = new URL(req.url!, 'http://x').pathname;
      if (path === '/slow') return; // never answers
      // Acts and says so, then its body stalls (or, for /stalled-503, refuses and stalls).
      if (path === '/stalled' || path === '/stalled-503')
        return void res.writeHead(path === '/stalled' ? 200 : 503).write('{"scaled":');
      if (path === '/down') {
        res.writeHead(503, { 'content-type': 'text/plain' }).end('upstream down\nretry later\n');
      } else if (path === '/moved') {
        res.writeHead(302, { location: 'http://elsewhere.example/' }).end();
      } else {
        // Echoes the request, headers included: the driver must still never show the secret one.
        res
          .writeHead(200, { 'content-type': 'application/json' })
          .end(JSON.stringify({ path, headers: req.headers }));
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});
beforeEach(() => {
  received = [];
});

function httpDriver(settings: Record<string, unknown>) {
  return createDriver(HttpSettingsSchema.parse({ type: 'http', ...settings }));
}

function runOf(overrides: Partial<DriverRun> = {}): DriverRun {
  return {
    params: {},
    dryRun: false,
    timeoutMs: 10_000,
    signal: new AbortController().signal,
    env: { API_TOKEN: TOKEN },
    secrets: [],
    ...overrides,
  };
}

describe('http driver', () => {
  it('fills the URL (encoded) and the JSON body, a lone placeholder keeping its type', async () => {
    const driver = httpDriver({
      url: `${base}/services/{{service}}/scale?reason={{reason}}`,
      body: {
        service: 'svc-{{service}}',
        replicas: '{{replicas}}',
        force: '{{force}}',
        tags: ['{{service}}', 1, null],
      },
    });
    const params = { service: 'payments', reason: 'db hot & slow=yes', replicas: 6, force: true };
    const result = await driver.run(runOf({ params }));

    const url = `${base}/services/payments/scale?reason=db%20hot%20%26%20slow%3Dyes`;
    expect(result).toMatchObject({ ok: true, summary: `POST ${url} → 200 OK` });
    expect(received).toHaveLength(1);
    expect(received[0]).toMatchObject({
      method: 'POST',
      url: '/services/payments/scale?reason=db%20hot%20%26%20slow%3Dyes',
    });
    expect(received[0]!.headers['content-type']).toBe('application/json');
    expect(JSON.parse(received[0]!.body)).toEqual({
      service: 'svc-payments',
      replicas: 6,
      force: true,
      tags: ['payments', 1, null],
    });
    expect(result.output).toMatch(/^200 OK\n\{"path":"\/services\/payments\/scale"/);
  });

  it('takes a header from an env var and never shows its value', async () => {
    const driver = httpDriver({
      method: 'GET',
      url: `${base}/health`,
      headers: { Authorization: { env: 'API_TOKEN', prefix: 'Bearer ' }, 'X-Requested-By': 'incident-bot' },
    });
    const result = await driver.run(runOf());

    expect(received[0]!.headers.authorization).toBe(`Bearer ${TOKEN}`);
    expect(received[0]!.headers['x-requested-by']).toBe('incident-bot');
    expect(result.ok).toBe(true);
    // The server echoed the header back; the output shows it redacted.
    expect(result.output).toContain('"authorization":"Bearer [redacted]"');
    expect(JSON.stringify(result)).not.toContain(TOKEN);
  });

  it('fails without calling when the env var of a header is not set', async () => {
    const driver = httpDriver({ url: `${base}/x`, headers: { 'X-Api-Key': { env: 'MISSING_KEY' } } });
    expect(await driver.run(runOf())).toMatchObject({
      ok: false,
      summary: 'MISSING_KEY is not set (header X-Api-Key)',
    });
    const inherited = httpDriver({ url: `${base}/x`, headers: { 'X-Api-Key': { env: 'valueOf' } } });
    expect(await inherited.run(runOf())).toMatchObject({
      ok: false,
      summary: 'valueOf is not set (header X-Api-Key)',
    });
    expect(received).toEqual([]);
  });

  it('reports a 5xx with its status and the last line of the body', async () => {
    const result = await httpDriver({ method: 'PUT', url: `${base}/down` }).run(runOf());
    expect(result).toMatchObject({
      ok: false,
      summary: `PUT ${base}/down → 503 Service Unavailable: retry later`,
      output: '503 Service Unavailable\nupstream down\nretry later\n',
    });
  });

  it('does not follow a redirect, so secret headers stay with the host configured', async () => {
    const driver = httpDriver({ url: `${base}/moved`, headers: { 'X-Api-Key': { env: 'API_TOKEN' } } });
    const result = await driver.run(runOf());
    expect(result.ok).toBe(false);
    expect(result.summary).toBe(
      `POST ${base}/moved → 302 Found: redirects to http://elsewhere.example/, which is not followed`,
    );
    expect(received).toHaveLength(1);
  });

  it('uses the dry-run overrides for a dry run', async () => {
    const driver = httpDriver({
      url: `${base}/flags/{{flag}}`,
      body: { enabled: '{{enabled}}' },
      dryRun: { url: `${base}/flags/{{flag}}/validate`, method: 'PUT' },
    });
    const params = { flag: 'EVENT_BUS_OPTIONAL', enabled: true };
    const result = await driver.run(runOf({ params, dryRun: true }));

    expect(result).toMatchObject({
      ok: true,
      summary: `dry run: PUT ${base}/flags/EVENT_BUS_OPTIONAL/validate → 200 OK`,
    });
    expect(received[0]).toMatchObject({ method: 'PUT', url: '/flags/EVENT_BUS_OPTIONAL/validate' });
    expect(JSON.parse(received[0]!.body)).toEqual({ enabled: true });
  });

  it('times out, and stops on abort', async () => {
    const driver = httpDriver({ url: `${base}/slow` });
    expect(await driver.run(runOf({ timeoutMs: 300 }))).toMatchObject({
      ok: false,
      summary: 'timed out after 300 ms',
    });

    const controller = new AbortController();
    const running = driver.run(runOf({ signal: controller.signal }));
    setTimeout(() => controller.abort(), 100);
    expect(await running).toMatchObject({ ok: false, summary: 'cancelled' });
    expect(await driver.run(runOf({ signal: AbortSignal.abort() }))).toMatchObject({
      ok: false,
      summary: 'cancelled',
    });
  });

  // The target acted: recorded failed, the run would be requested, and done, again.
  it('takes a 2xx for done however its body ends, saying it was cut short; not another status', async () => {
    expect(await httpDriver({ url: `${base}/stalled` }).run(runOf({ timeoutMs: 300 }))).toMatchObject({
      ok: true,
      output: '200 OK\n{"scaled":',
      summary: `POST ${base}/stalled → 200 OK (its answer cut short: timed out after 300 ms)`,
    });
    expect(await httpDriver({ url: `${base}/stalled-503` }).run(runOf({ timeoutMs: 300 }))).toMatchObject({
      ok: false,
      summary: `POST ${base}/stalled-503 → 503 Service Unavailable (its answer cut short: timed out after 300 ms)`,
    });
  });

  it('reports a server that cannot be reached', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(closed.address() as AddressInfo).port}/x`;
    await new Promise((resolve) => closed.close(resolve));

    const result = await httpDriver({ url }).run(runOf());
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(new RegExp(`^POST ${url} failed: fetch failed: .*ECONNREFUSED`));
  });

  it('refuses "." and ".." as a URL param, which would climb the path', async () => {
    const driver = httpDriver({ url: `${base}/services/{{service}}/restart` });
    expect(await driver.run(runOf({ params: { service: '..' } }))).toMatchObject({
      ok: false,
      summary: '{{service}} may not be "." or ".." in a URL',
    });
    expect(received).toEqual([]);
  });

  it('keeps params out of the scheme and host, and lists the placeholders used', () => {
    const problems = (settings: Record<string, unknown>) =>
      HttpSettingsSchema.safeParse({ type: 'http', ...settings }).error?.issues.map((i) => i.message);
    const urlProblem =
      'expected an http(s) URL without credentials; {{placeholders}} may go in its path and query only';
    expect(problems({ url: 'https://{{host}}/restart' })).toEqual([urlProblem]);
    expect(problems({ url: 'https://user:pw@api.example/restart' })).toEqual([urlProblem]);
    expect(problems({ url: 'ftp://api.example/x' })).toEqual([urlProblem]);
    expect(problems({ url: 'https://api.example/x', method: 'GET', body: { a: 1 } })).toEqual([
      'a GET request has no body',
    ]);
    expect(problems({ url: 'https://api.example/x', body: { a: '{{ a }}' } })).toHaveLength(1);

    const settings = HttpSettingsSchema.parse({
      type: 'http',
      url: 'https://api.example/services/{{service}}?reason={{reason}}',
      headers: { 'X-Incident': '{{incident}}', Authorization: { env: 'API_TOKEN' } },
      body: { replicas: '{{replicas}}', service: '{{service}}' },
      dryRun: { body: { replicas: '{{replicas}}', dry: '{{dry}}' } },
    });
    expect(placeholdersOf(settings)).toEqual(['service', 'reason', 'incident', 'replicas', 'dry']);
  });
});
