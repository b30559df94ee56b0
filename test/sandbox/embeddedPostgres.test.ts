import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SANDBOX_CONFIG_PATH } from '../../src/config/index.js';
import { probePostgres } from '../../src/db/probe.js';
import { type ChildBot, startCli, stopChild } from '../support/childWorker.js';
import { clearRedisPrefix, redisUrl, uniquePrefix, unusedPort } from '../support/services.js';

/**
 * `npm start` on a machine with no PostgreSQL: the sandbox starts one of its own. The shared server
 * already listens on 5432 here, so the address the sandbox probes is moved to a free port.
 */
describe('the sandbox on a machine without PostgreSQL', () => {
  let cache: string;
  let port: number;
  let env: Record<string, string>;
  const prefix = uniquePrefix();
  beforeAll(async () => {
    cache = await mkdtemp(join(tmpdir(), 'incident-bot-cache-'));
    // As root, the server runs as another user, who must be able to reach the data directory.
    await chmod(cache, 0o755);
    port = await unusedPort();
    env = {
      XDG_CACHE_HOME: cache,
      SANDBOX_DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres`,
      INCIDENT_BOT_CONFIG: SANDBOX_CONFIG_PATH,
      REDIS_URL: redisUrl(),
      QUEUE_PREFIX: prefix,
      PORT: '0',
      LOG_LEVEL: 'info',
    };
  });
  afterAll(async () => {
    await clearRedisPrefix(prefix);
    await rm(cache, { recursive: true, force: true });
  });

  const sampleAlert = (bot: ChildBot) =>
    fetch(`http://127.0.0.1:${bot.port}/sandbox/api/alert`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ sample: 'payments-api-latency.firing' }),
    }).then((res) => res.json());

  const listening = async () => !/ECONNREFUSED/.test(JSON.stringify(await probePostgres(url())));
  const url = () => `postgres://postgres@127.0.0.1:${port}/postgres`;

  it('starts an embedded PostgreSQL, serves the page, and turns a sample alert into an incident', async () => {
    const bot = await startCli(['serve'], env);
    try {
      expect(bot.output()).toContain(`started an embedded PostgreSQL 17 at 127.0.0.1:${port}`);
      expect(bot.output()).toContain(`rm -rf ${join(cache, 'incident-bot')}`);
      expect((await fetch(`http://127.0.0.1:${bot.port}/sandbox`)).status).toBe(200);
      expect(await sampleAlert(bot)).toEqual({
        status: 200,
        body: { outcome: 'created', incident: 'INC-1' },
        channel: 'C0PAYMENTS',
      });
      // Loopback is not enough on a shared machine: it takes its own password, and no other.
      expect(await probePostgres(url())).toEqual({
        reachable: false,
        problem: expect.stringMatching(/password/),
      });
      expect(await stat(join(cache, 'incident-bot', 'postgres-17.password'))).toMatchObject({
        mode: 0o100600,
      });
    } finally {
      await stopChild(bot.process);
    }
    expect(await bot.exited).toBe(0);
    // It stops with the bot.
    expect(await listening()).toBe(false);
  });

  it('keeps its data from one start to the next', async () => {
    const bot = await startCli(['serve'], env);
    try {
      const again = (await sampleAlert(bot)) as { body: { outcome: string; incident: string } };
      expect(again.body.incident).toBe('INC-1');
      expect(again.body.outcome).not.toBe('created');
    } finally {
      await stopChild(bot.process);
    }
  });

  it('takes up the server a killed bot left running, and stops it when it stops', async () => {
    const killed = await startCli(['serve'], env);
    await stopChild(killed.process, 'SIGKILL');
    expect(await listening()).toBe(true);
    const bot = await startCli(['serve'], env);
    try {
      expect(bot.output()).toContain(`using the embedded PostgreSQL 17 left running at 127.0.0.1:${port}`);
      expect(((await sampleAlert(bot)) as { body: { incident: string } }).body.incident).toBe('INC-1');
    } finally {
      await stopChild(bot.process);
    }
    expect(await bot.exited).toBe(0);
    expect(await listening()).toBe(false);
  });

  it('leaves alone a server of someone else that answers at its address, and says so', async () => {
    // The shared PostgreSQL, under a role it does not have: something answers, but not for the sandbox.
    const bot = startCli(['serve'], {
      ...env,
      SANDBOX_DATABASE_URL: 'postgres://no_such_role@127.0.0.1:5432/postgres',
    });
    await expect(bot).rejects.toThrow(/exited with 69.*something else answers at 127\.0\.0\.1:5432/s);
  });

  it('is never started for a deployment: without DATABASE_URL, production is a config error', async () => {
    const bot = startCli(['serve'], { ...env, NODE_ENV: 'production', SLACK_BOT_TOKEN: 'xoxb-prod-like' });
    await expect(bot).rejects.toThrow(/exited with 78.*DATABASE_URL/s);
  });
});
