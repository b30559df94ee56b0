import http from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { HealthCheck } from '../../src/health/checkSchema.js';
import { runCheck, runChecks } from '../../src/health/checks.js';
import { waitFor } from '../support/services.js';
import { check, closedPort, type Listening, listen } from './support.js';

const env = {};

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

let server: Listening;
let base: string;
const barrier: http.ServerResponse[] = [];

beforeAll(async () => {
  server = await listen(
    http.createServer((req, res) => {
      switch (req.url) {
        case '/health':
          return json(res, 200, { status: 'ok', version: '1.4.2', checks: { db: 'up', cache: 'up' } });
        case '/degraded':
          return json(res, 200, { status: 'degraded', checks: { db: 'down' } });
        case '/down':
          return json(res, 503, { status: 'down' });
        case '/list':
          return json(res, 200, ['ok']);
        case '/text':
          res.writeHead(200, { 'content-type': 'text/plain' });
          return res.end('all good');
        case '/moved':
          res.writeHead(302, { location: '/health' });
          return res.end();
        case '/barrier':
          // Answers only once two requests wait here: checks run one after the other would never get through.
          barrier.push(res);
          if (barrier.length === 2)
            for (const waiting of barrier.splice(0)) json(waiting, 200, { status: 'ok' });
          return;
        case '/hang':
          return; // never answers
        default:
          return json(res, 404, {});
      }
    }),
  );
  base = `http://127.0.0.1:${server.port}`;
});

afterAll(async () => {
  await server.close();
});

const httpCheck = (path: string, extra: Record<string, unknown> = {}) =>
  check({ kind: 'http', name: 'api-health', url: `${base}${path}`, ...extra });

describe('http', () => {
  it('passes on the expected status and a JSON subset, and reports status and latency', async () => {
    const result = await runCheck(
      httpCheck('/health', { expectJson: { status: 'ok', checks: { db: 'up', cache: 'up' } } }),
      {
        env,
      },
    );
    expect(result).toEqual({
      name: 'api-health',
      kind: 'http',
      status: 'ok',
      latencyMs: expect.any(Number),
      detail: 'status 200, JSON as expected',
      facts: [
        { label: 'target', value: `GET ${base}/health` },
        { label: 'status', value: '200' },
      ],
    });
    expect(result.latencyMs).toBeGreaterThanOrEqual(0);
  });

  it('passes without expectJson whatever the body is', async () => {
    expect(await runCheck(httpCheck('/text'), { env })).toMatchObject({ status: 'ok', detail: 'status 200' });
  });

  it('fails on another status', async () => {
    expect(await runCheck(httpCheck('/down'), { env })).toMatchObject({
      status: 'fail',
      detail: 'expected status 200, got 503',
      facts: [expect.anything(), { label: 'status', value: '503' }],
    });
  });

  it('passes when the configured status is the one answered', async () => {
    expect(await runCheck(httpCheck('/down', { expectStatus: 503 }), { env })).toMatchObject({
      status: 'ok',
    });
  });

  it('does not follow redirects: it reports what the endpoint answers', async () => {
    expect(await runCheck(httpCheck('/moved'), { env })).toMatchObject({
      status: 'fail',
      detail: 'expected status 200, got 302',
    });
  });

  it('fails on each JSON value that differs or is missing, comparing nested values whole', async () => {
    const result = await runCheck(
      httpCheck('/degraded', {
        expectJson: { status: 'ok', checks: { db: 'down', cache: 'up' }, version: '1.4.2' },
      }),
      { env },
    );
    expect(result.status).toBe('fail');
    expect(result.detail).toBe(
      'expected json.status "ok", got "degraded"; ' +
        'expected json.checks {"db":"down","cache":"up"}, got {"db":"down"}; ' +
        'json.version is missing, expected "1.4.2"',
    );
  });

  it('fails on a body that is not a JSON object', async () => {
    expect(await runCheck(httpCheck('/text', { expectJson: { status: 'ok' } }), { env })).toMatchObject({
      status: 'fail',
      detail: 'expected a JSON response, got "all good"',
    });
    expect(await runCheck(httpCheck('/list', { expectJson: { status: 'ok' } }), { env })).toMatchObject({
      status: 'fail',
      detail: 'expected a JSON object, got ["ok"]',
    });
  });

  it('fails with a timeout when the server never answers, and drops the connection', async () => {
    const result = await runCheck({ ...httpCheck('/hang'), timeout: 200 }, { env });
    expect(result).toMatchObject({ status: 'fail', detail: 'timed out after 200 ms' });
    await waitFor(async () => (await server.connections()) === 0, 5000, 'the hung request to be closed');
  });

  it('leaves no connection open after a check', async () => {
    await runCheck(httpCheck('/health'), { env });
    await waitFor(async () => (await server.connections()) === 0, 5000, 'the connection to be closed');
  });

  it('stops when the caller aborts', async () => {
    const controller = new AbortController();
    const running = runCheck(httpCheck('/hang'), { env, signal: controller.signal });
    controller.abort();
    expect(await running).toMatchObject({ status: 'fail', detail: 'cancelled before it finished' });
    expect(await runCheck(httpCheck('/health'), { env, signal: controller.signal })).toMatchObject({
      status: 'fail',
      detail: 'cancelled before it started',
    });
  });

  it('fails on a closed port', async () => {
    const url = `http://127.0.0.1:${await closedPort()}/health`;
    const result = await runCheck(check({ kind: 'http', name: 'api-health', url }), { env });
    expect(result.status).toBe('fail');
    expect(result.detail).toMatch(/ECONNREFUSED/);
  });

  it('keeps a password in the URL out of the result (the schema refuses one; the check does not rely on it)', async () => {
    const url = `http://probe:hunter22@127.0.0.1:${await closedPort()}/health`;
    const unchecked: HealthCheck = {
      kind: 'http',
      name: 'api',
      url,
      method: 'GET',
      expectStatus: 200,
      timeout: 5000,
    };
    const result = await runCheck(unchecked, { env });
    expect(result.status).toBe('fail');
    expect(result.facts[0]!.value).toContain('http://probe:[REDACTED]@127.0.0.1:');
    expect(JSON.stringify(result)).not.toContain('hunter22');
  });
});

describe('tcp', () => {
  it('connects and closes', async () => {
    const result = await runCheck(
      check({ kind: 'tcp', name: 'api-port', host: '127.0.0.1', port: server.port }),
      {
        env,
      },
    );
    expect(result).toMatchObject({
      status: 'ok',
      detail: `connected to 127.0.0.1:${server.port}`,
      facts: [{ label: 'target', value: `127.0.0.1:${server.port}` }],
    });
    await waitFor(async () => (await server.connections()) === 0, 5000, 'the socket to be closed');
  });

  it('fails on a closed port', async () => {
    const port = await closedPort();
    const result = await runCheck(check({ kind: 'tcp', name: 'api-port', host: '127.0.0.1', port }), { env });
    expect(result).toMatchObject({ status: 'fail', detail: `connect ECONNREFUSED 127.0.0.1:${port}` });
  });
});

describe('runChecks', () => {
  it('runs checks concurrently', async () => {
    const health = await runChecks(
      [httpCheck('/barrier', { name: 'one' }), httpCheck('/barrier', { name: 'two' })],
      {
        env,
      },
    );
    expect(health.results.map((r) => r.status)).toEqual(['ok', 'ok']);
  });

  it('returns results in config order, with the worst status overall', async () => {
    const checks: HealthCheck[] = [
      { ...httpCheck('/hang', { name: 'slow' }), timeout: 200 },
      httpCheck('/health', { name: 'fast' }),
      check({ kind: 'tcp', name: 'port', host: '127.0.0.1', port: server.port }),
    ];
    const health = await runChecks(checks, { env });
    expect(health.status).toBe('fail');
    expect(health.results.map((r) => [r.name, r.status])).toEqual([
      ['slow', 'fail'],
      ['fast', 'ok'],
      ['port', 'ok'],
    ]);
  });

  it('is ok when every check is, and for a service without checks', async () => {
    expect((await runChecks([httpCheck('/health')], { env })).status).toBe('ok');
    expect(await runChecks([], { env })).toEqual({ status: 'ok', results: [] });
  });
});
