import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli as run } from './support/cli.js';
import { createTestDatabase, redisUrl, type TestDatabase } from './support/services.js';

describe('incident-bot command line', () => {
  let db: TestDatabase;
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(join(tmpdir(), 'incident-bot-cli-'));
    await writeFile(join(dir, 'good.yml'), 'slack:\n  defaultChannel: C0DEFAULT1\n');
    env = {
      SLACK_BOT_TOKEN: 'xoxb-cli-test-token',
      SLACK_SIGNING_SECRET: 'cli-test-signing-secret',
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      ALERTMANAGER_TOKEN: 'cli-test-alertmanager-token',
      INCIDENT_BOT_CONFIG: join(dir, 'good.yml'),
    };
  });
  afterAll(async () => {
    await db.drop();
  });

  it('stops before listening on a bad config, one line per problem, without a stack trace', async () => {
    await writeFile(
      join(dir, 'bad.yml'),
      [
        'slack:',
        '  defaultChannel: C0DEFAULT1',
        'routes:',
        "  - { matchers: ['team=a'], channel: C0AAAAAAA }",
        "  - { matchers: ['team=b'], channel: C0BBBBBBB }",
        "  - { matchers: ['team=c'], channel: '#incidents' }",
        '',
      ].join('\n'),
    );
    const result = await run(['serve'], {
      ...env,
      INCIDENT_BOT_CONFIG: join(dir, 'bad.yml'),
      ALERTMANAGER_TOKEN: 'short',
    });
    expect(result.code).toBe(78);
    const lines = result.stderr.trim().split('\n');
    expect(lines).toContain(
      '  environment: ALERTMANAGER_TOKEN: expected a bearer token of at least 16 characters',
    );
    expect(lines).toContain(
      `  ${join(dir, 'bad.yml')}: routes[2].channel: expected a Slack channel id like C0123ABCD`,
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('names a missing config file', async () => {
    const result = await run(['serve'], { ...env, INCIDENT_BOT_CONFIG: join(dir, 'missing.yml') });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('cannot read the config file: ENOENT');
  });

  it('migrates and exits 0, twice', async () => {
    const first = await run(['migrate'], env);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain('migrations applied');
    const second = await run(['migrate'], env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain('database already up to date');
  });

  it('refuses an unknown role with usage', async () => {
    const result = await run(['dance'], env);
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('usage: incident-bot <role>');
  });
});
