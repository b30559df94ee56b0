import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CheckResult, runCheck } from '../../src/health/checks.js';
import { redisUrl, waitFor } from '../support/services.js';
import { check, closedPort, type Listening, listen, silentServer } from './support.js';

const redisCheck = () => check({ kind: 'redis', name: 'cache', connectionEnv: 'PAYMENTS_REDIS_URL' });

const fact = (result: CheckResult, label: string) => result.facts.find((f) => f.label === label)?.value;

/**
 * Speaks just enough RESP2 to answer PING and INFO with the given fields: the shared test Redis cannot
 * be filled to its maxmemory without hurting every other test using it.
 */
async function fakeRedis(info: Record<string, string>): Promise<Listening> {
  const text = Object.entries(info)
    .map(([key, value]) => `${key}:${value}\r\n`)
    .join('');
  return listen(
    net.createServer((socket) => {
      socket.on('data', (chunk) => {
        // Each command arrives as an array whose first bulk string is its name: *N\r\n$len\r\nNAME\r\n…
        for (const [, name] of chunk.toString().matchAll(/\*\d+\r\n\$\d+\r\n([A-Za-z]+)\r\n/g)) {
          const command = name!.toUpperCase();
          if (command === 'PING') socket.write('+PONG\r\n');
          else if (command === 'INFO') socket.write(`$${Buffer.byteLength(text)}\r\n${text}\r\n`);
          else socket.write('+OK\r\n');
        }
      });
    }),
  );
}

describe('redis', () => {
  it('pings a real Redis and reports memory, policy and clients', async () => {
    const url = new URL(redisUrl());
    const result = await runCheck(redisCheck(), { env: { PAYMENTS_REDIS_URL: redisUrl() } });
    expect(result).toMatchObject({ name: 'cache', kind: 'redis', status: 'ok' });
    expect(result.detail).toMatch(/^PONG; \S+ used(, no maxmemory| of \S+); \d+ clients?$/);
    expect(result.facts.map((f) => f.label)).toEqual([
      'target',
      'used memory',
      'maxmemory',
      'maxmemory policy',
      'connected clients',
    ]);
    expect(fact(result, 'target')).toBe(`${url.hostname}:${url.port || 6379}`);
    expect(fact(result, 'used memory')).toMatch(/^[\d.]+[BKMG]$/);
    expect(Number(fact(result, 'connected clients'))).toBeGreaterThanOrEqual(1);
  });

  describe('against a Redis whose INFO the test controls', () => {
    let nearlyFull: Listening;
    let roomy: Listening;
    const memory = { loading: '0', used_memory_human: '95.00M', maxmemory_policy: 'allkeys-lru' };

    beforeAll(async () => {
      nearlyFull = await fakeRedis({
        ...memory,
        used_memory: String(95 * 2 ** 20),
        maxmemory: String(100 * 2 ** 20),
        maxmemory_human: '100.00M',
        connected_clients: '7',
      });
      roomy = await fakeRedis({
        ...memory,
        used_memory: String(95 * 2 ** 20),
        maxmemory: String(200 * 2 ** 20),
        maxmemory_human: '200.00M',
        connected_clients: '1',
      });
    });

    afterAll(async () => {
      await nearlyFull.close();
      await roomy.close();
    });

    it('warns at 90% of maxmemory', async () => {
      const result = await runCheck(redisCheck(), {
        env: { PAYMENTS_REDIS_URL: `redis://127.0.0.1:${nearlyFull.port}` },
      });
      expect(result).toMatchObject({
        status: 'warn',
        detail: 'used memory 95.00M is 95% of maxmemory 100.00M',
        facts: [
          { label: 'target', value: `127.0.0.1:${nearlyFull.port}` },
          { label: 'used memory', value: '95.00M' },
          { label: 'maxmemory', value: '100.00M (95% used)' },
          { label: 'maxmemory policy', value: 'allkeys-lru' },
          { label: 'connected clients', value: '7' },
        ],
      });
    });

    it('is ok below it, and closes its connection', async () => {
      const result = await runCheck(redisCheck(), {
        env: { PAYMENTS_REDIS_URL: `redis://127.0.0.1:${roomy.port}` },
      });
      expect(result).toMatchObject({ status: 'ok', detail: 'PONG; 95.00M used of 200.00M; 1 client' });
      await waitFor(async () => (await roomy.connections()) === 0, 5000, 'the connection to be closed');
    });
  });

  it('fails when the env var is not set', async () => {
    expect(await runCheck(redisCheck(), { env: {} })).toMatchObject({
      status: 'fail',
      detail: 'env var PAYMENTS_REDIS_URL is not set',
    });
  });

  it('fails on an unreachable server, saying why, without showing the password', async () => {
    const port = await closedPort();
    const result = await runCheck(redisCheck(), {
      env: { PAYMENTS_REDIS_URL: `redis://default:Hunter2-s3cret@127.0.0.1:${port}/0` },
    });
    expect(result).toMatchObject({
      status: 'fail',
      detail: `connect ECONNREFUSED 127.0.0.1:${port}`,
      facts: [{ label: 'target', value: `127.0.0.1:${port}/0` }],
    });
    expect(JSON.stringify(result)).not.toContain('Hunter2-s3cret');
  });

  it('fails with a timeout on a server that never answers, and drops the connection', async () => {
    const silent = await silentServer();
    try {
      const result = await runCheck(
        { ...redisCheck(), timeout: 200 },
        { env: { PAYMENTS_REDIS_URL: `redis://127.0.0.1:${silent.port}` } },
      );
      expect(result).toMatchObject({ status: 'fail', detail: 'timed out after 200 ms' });
      await waitFor(async () => (await silent.connections()) === 0, 5000, 'the connection to be dropped');
    } finally {
      await silent.close();
    }
  });
});
