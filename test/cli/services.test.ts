import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';
import { createTestDatabase, redisUrl, type TestDatabase, unusedPort } from '../support/services.js';

describe('a start without PostgreSQL or Redis', () => {
  let db: TestDatabase;
  let env: Record<string, string>;
  let silent: Server;
  let silentPort: number;
  beforeAll(async () => {
    db = await createTestDatabase();
    env = {
      SLACK_BOT_TOKEN: 'xoxb-services-test-token',
      SLACK_SIGNING_SECRET: 'services-test-signing-secret',
      ALERTMANAGER_TOKEN: 'services-test-alertmanager-token',
      INCIDENT_BOT_CONFIG: 'config/incident-bot.example.yml',
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
    };
    // Accepts connections and never answers: a firewall that swallows, or a server hung at start.
    silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    silentPort = (silent.address() as { port: number }).port;
  });
  afterAll(async () => {
    silent.close();
    await db.drop();
  });

  const expectParagraph = (stderr: string) => {
    expect(stderr).not.toMatch(/\n\s+at /);
    expect(stderr.trim().split('\n').length).toBeLessThanOrEqual(8);
  };

  it('says PostgreSQL is missing, where, and how to get it, and exits 69', async () => {
    const port = await unusedPort();
    const result = await runCli(['serve'], {
      ...env,
      DATABASE_URL: `postgres://bot:s3cret@127.0.0.1:${port}/x`,
    });
    expect(result.code).toBe(69);
    expect(result.stderr).toMatch(
      new RegExp(
        `^incident-bot: PostgreSQL is not reachable at 127\\.0\\.0\\.1:${port} \\(from DATABASE_URL\\): connect ECONNREFUSED`,
      ),
    );
    expect(result.stderr).toContain('docker compose -f docker-compose.dev.yml up -d');
    expect(result.stderr).toContain('sudo apt install postgresql');
    expect(result.stderr).toContain('brew install postgresql');
    expect(result.stderr).not.toContain('s3cret');
    expect(result.stderr).not.toContain('Redis');
    expectParagraph(result.stderr);
  });

  it('says Redis is missing for a worker, instead of reconnecting for ever', async () => {
    const port = await unusedPort();
    const result = await runCli(['worker'], { ...env, REDIS_URL: `redis://127.0.0.1:${port}` });
    expect(result.code).toBe(69);
    expect(result.stderr).toMatch(
      /^incident-bot: Redis is not reachable at 127\.0\.0\.1:\d+ \(from REDIS_URL\)/,
    );
    expect(result.stderr).toContain('sudo apt install redis-server');
    expect(result.stderr).not.toContain('PostgreSQL');
    expectParagraph(result.stderr);
  });

  it('gives up on a server that accepts and never answers, and names both services when both are away', async () => {
    const result = await runCli(['migrate'], {
      ...env,
      DATABASE_URL: `postgres://postgres@127.0.0.1:${silentPort}/postgres`,
      REDIS_URL: `redis://127.0.0.1:${silentPort}`,
    });
    expect(result.code).toBe(69);
    expect(result.stderr).toMatch(/PostgreSQL is not reachable at .*: .*timeout/i);
    expect(result.stderr).toMatch(/\n\nRedis is not reachable at .*: .*ETIMEDOUT/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('stops npm test in its global setup with the same paragraph, instead of failing every file', async () => {
    const port = await unusedPort();
    const child = spawn(process.execPath, ['node_modules/vitest/vitest.mjs', 'run', 'test/layout.test.ts'], {
      env: {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '/tmp',
        TESTCONTAINERS: '0',
        DATABASE_URL: `postgres://postgres@127.0.0.1:${port}/postgres`,
        REDIS_URL: env.REDIS_URL!,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const code = await new Promise((resolve) => child.on('close', resolve));
    expect(code).toBe(69);
    expect(output).toContain(
      `npm test: PostgreSQL is not reachable at 127.0.0.1:${port} (from DATABASE_URL)`,
    );
    expect(output).toContain(
      'the tests (without a Docker engine for testcontainers) cannot start without it',
    );
    expect(output).not.toMatch(/\n\s+at /);
  });
});
