import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningEmulator, startSlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { readManifest } from '../../src/slack/manifest.js';
import { runCli } from '../support/cli.js';
import { createTestDatabase, redisUrl, type TestDatabase, unusedPort } from '../support/services.js';

const BOT_TOKEN = 'xoxb-doctor-test-token';
const APP_TOKEN = 'xapp-doctor-test-token';

/** `incident-bot doctor` as a child process, against real services and the emulated Slack. */
describe('incident-bot doctor', () => {
  let db: TestDatabase;
  let slack: RunningEmulator;
  let fewerScopes: RunningEmulator;
  let dir: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    db = await createTestDatabase();
    const { botScopes } = await readManifest();
    slack = await startSlackEmulator({ token: BOT_TOKEN, appToken: APP_TOKEN, scopes: botScopes });
    fewerScopes = await startSlackEmulator({
      token: BOT_TOKEN,
      scopes: botScopes.filter((s) => s !== 'channels:read'),
    });
    for (const [name, id] of [
      ['incidents', 'C0DEFAULT1'],
      ['payments', 'C0ROUTED1'],
      ['announcements', 'C0ANNOUNCE'],
    ] as const)
      slack.emulator.createChannel(name, false, id);
    fewerScopes.emulator.createChannel('incidents', false, 'C0DEFAULT1');
    // Made by someone else: the bot was never invited.
    slack.emulator.createChannel('storage', false, 'C0NOTJOINED', 'U0ALICE');
    dir = await mkdtemp(join(tmpdir(), 'incident-bot-doctor-'));
    const config = (route: string) =>
      [
        'slack:',
        '  defaultChannel: C0DEFAULT1',
        'incidents:',
        '  announcementChannel: C0ANNOUNCE',
        'routes:',
        `  - { matchers: ['team=payments'], channel: ${route} }`,
        '',
      ].join('\n');
    await writeFile(join(dir, 'good.yml'), config('C0ROUTED1'));
    await writeFile(join(dir, 'not-joined.yml'), config('C0NOTJOINED'));
    slack.emulator.createChannel('secret-ops', true, 'G0PRIVATE1');
    await writeFile(join(dir, 'private.yml'), config('G0PRIVATE1'));
    await writeFile(join(dir, 'unknown.yml'), config('C0NOSUCHONE'));
    await writeFile(join(dir, 'default-only.yml'), 'slack:\n  defaultChannel: C0DEFAULT1\n');
    await writeFile(join(dir, 'bad.yml'), 'slack:\n  defaultChannel: general\n');
    env = {
      SLACK_BOT_TOKEN: BOT_TOKEN,
      SLACK_SIGNING_SECRET: 'doctor-test-signing-secret',
      SLACK_API_URL: slack.apiUrl,
      DATABASE_URL: db.url,
      REDIS_URL: redisUrl(),
      ALERTMANAGER_TOKEN: 'a'.repeat(40),
      INCIDENT_BOT_CONFIG: join(dir, 'good.yml'),
    };
  });
  afterAll(async () => {
    await slack?.close();
    await fewerScopes?.close();
    await db.drop();
  });

  const doctor = async (changes: Record<string, string>) => {
    const result = await runCli(['doctor'], { ...env, ...changes });
    const lines = result.stdout.trim().split('\n');
    return {
      code: result.code,
      lines,
      failed: lines.filter((l) => l.startsWith('❌')),
      stderr: result.stderr,
    };
  };

  it('says ✅ for each thing, one line each, and exits 0 when everything is right', async () => {
    const { code, lines, failed, stderr } = await doctor({ SLACK_APP_TOKEN: APP_TOKEN });
    expect(stderr).toBe('');
    expect(failed).toEqual([]);
    expect(code).toBe(0);
    expect(lines).toEqual([
      expect.stringMatching(/^✅ Node\.js \d+\.\d+\.\d+$/),
      expect.stringMatching(/^✅ PostgreSQL at 127\.0\.0\.1:5432: version \d+/),
      expect.stringMatching(/^✅ Redis at 127\.0\.0\.1:6379: version \S+, maxmemory-policy noeviction$/),
      expect.stringMatching(
        /^✅ configuration: .*good\.yml \(1 route, 0 services, 0 health checks, 0 actions\)/,
      ),
      '✅ Slack bot token: <@U0INCIDENTBOT> in Sandbox',
      expect.stringMatching(/^✅ Slack scopes: all \d+ that manifest\.yml asks for$/),
      '✅ Slack app-level token: Slack gives it a Socket Mode address',
      '✅ Slack channel #incidents (C0DEFAULT1, the default channel): the bot is in it',
      '✅ Slack channel #payments (C0ROUTED1, a route): the bot is in it',
      '✅ Slack channel #announcements (C0ANNOUNCE, the announcement channel): the bot is in it',
      '✅ Alertmanager token: 40 characters',
      'All good.',
    ]);
  });

  // One thing wrong at a time: exactly that line is ❌, with its fix.
  const cases: Array<[string, () => Promise<Record<string, string>>, RegExp]> = [
    [
      'a channel the bot was never invited to',
      async () => ({ INCIDENT_BOT_CONFIG: join(dir, 'not-joined.yml') }),
      /^❌ Slack channel #storage \(C0NOTJOINED, a route\): the bot is not in it.*Fix: in #storage, type \/invite @incident-bot$/,
    ],
    [
      'a private channel, which the token may not look at',
      async () => ({ INCIDENT_BOT_CONFIG: join(dir, 'private.yml') }),
      /^❌ Slack channel G0PRIVATE1 \(a route\): private, .*\(missing_scope\)\. Fix: make sure the bot is in it/,
    ],
    [
      'a channel id that does not exist',
      async () => ({ INCIDENT_BOT_CONFIG: join(dir, 'unknown.yml') }),
      /^❌ Slack channel C0NOSUCHONE \(a route\): Slack answered channel_not_found\. Fix: check the id/,
    ],
    [
      'a bot token Slack refuses',
      async () => ({ SLACK_BOT_TOKEN: 'xoxb-revoked-token' }),
      /^❌ Slack bot token: Slack answered invalid_auth\. Fix: copy the Bot User OAuth Token/,
    ],
    [
      'a token without a scope the manifest asks for',
      async () => ({ SLACK_API_URL: fewerScopes.apiUrl, INCIDENT_BOT_CONFIG: join(dir, 'default-only.yml') }),
      /^❌ Slack scopes: the token lacks channels:read, which manifest\.yml asks for\. Fix: .*reinstall the app/,
    ],
    [
      'an app-level token Slack refuses',
      async () => ({ SLACK_APP_TOKEN: 'xapp-some-other-app' }),
      /^❌ Slack app-level token: Slack answered invalid_auth\. Fix: generate an app-level token/,
    ],
    [
      'no PostgreSQL at DATABASE_URL',
      async () => ({ DATABASE_URL: `postgres://postgres@127.0.0.1:${await unusedPort()}/postgres` }),
      /^❌ PostgreSQL at 127\.0\.0\.1:\d+: connect ECONNREFUSED .*Fix: start it/,
    ],
    [
      'no Redis at REDIS_URL',
      async () => ({ REDIS_URL: `redis://127.0.0.1:${await unusedPort()}` }),
      /^❌ Redis at 127\.0\.0\.1:\d+: connect ECONNREFUSED .*Fix: start it/,
    ],
    [
      'an invalid config file',
      async () => ({ INCIDENT_BOT_CONFIG: join(dir, 'bad.yml') }),
      /^❌ configuration: .*bad\.yml: slack\.defaultChannel: expected a Slack channel id.*Fix: incident-bot check-config/,
    ],
    [
      'a short Alertmanager token',
      async () => ({ ALERTMANAGER_TOKEN: 'sixteen-chars-ok' }),
      /^❌ Alertmanager token: only 16 characters\. Fix: use 32 or more \(openssl rand -hex 32\)/,
    ],
  ];
  it.each(cases)('finds %s, and only that', async (_, changes, line) => {
    const { code, failed } = await doctor(await changes());
    expect(failed).toEqual([expect.stringMatching(line)]);
    expect(code).toBe(1);
  });

  it('names a DATABASE_URL or REDIS_URL that is not a URL, instead of failing with a stack trace', async () => {
    const { code, failed, stderr } = await doctor({ DATABASE_URL: 'not a url', REDIS_URL: 'neither' });
    expect(stderr).toBe('');
    expect(code).toBe(1);
    expect(failed).toEqual([
      '❌ PostgreSQL: DATABASE_URL is not a URL. Fix: write it as postgres://user:password@host:5432/database',
      '❌ Redis: REDIS_URL is not a URL. Fix: write it as redis://host:6379',
      expect.stringMatching(/^❌ configuration: environment: DATABASE_URL: expected a URL .*\(and 1 more\)/),
      '❌ Slack: skipped, as the environment is not valid (see configuration). Fix: incident-bot check-config names each problem of the environment',
    ]);
  });
});
