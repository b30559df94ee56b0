import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { DestinationStream } from 'pino';
import { type RunningApp, secretsOf, startApp } from '../../src/app.js';
import { type Config, loadConfig } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/logger.js';
import {
  type RunningEmulator,
  type SlackEmulator,
  startSlackEmulator,
} from '../../src/sandbox/slackEmulator.js';
import { untilIngested } from './deliveries.js';
import {
  clearRedisPrefix,
  createTestDatabase,
  redisUrl,
  type TestDatabase,
  uniquePrefix,
} from './services.js';

export const TEST_SECRETS = {
  botToken: 'xoxb-test-0000-bot-token-s3cr3t',
  signingSecret: 'test-signing-secret-0123456789',
  alertmanagerToken: 'am-token-test-abcdefghijklmnop',
  /** Socket Mode's app-level token: the bot uses it only when a test sets SLACK_APP_TOKEN to it. */
  appToken: 'xapp-1-A0INCIDENTBOT-test-app-token',
};

export const DEFAULT_TEST_CONFIG = `
slack:
  defaultChannel: C0DEFAULT1
  syncIntervalMs: 0
  rateLimits:
    postMessagePerChannel: { perMinute: 6000, burst: 100 }
    update: { perMinute: 6000, burst: 100 }
routes:
  - matchers: ['service=payments-api', 'severity=~critical|warning']
    channel: C0PAYMENTS
`;

export interface TestBot {
  url: string;
  app: RunningApp;
  slack: RunningEmulator;
  config: Config;
  /** The env the bot was configured from: a child process given it joins the same deployment. */
  env: Record<string, string>;
  database: TestDatabase;
  post(path: string, body: string | object, headers?: Record<string, string>): Promise<Response>;
  /** Posts a notification and, once it is ingested, answers what ingesting it came to (see untilIngested). */
  deliver(payload: object | string): Promise<Response>;
  stop(options?: { keepDatabase?: boolean }): Promise<void>;
}

/** The whole bot on port 0 against a fresh database, its own Redis prefix and an emulated Slack. */
export interface TestBotOptions {
  configYaml?: string;
  env?: Record<string, string>;
  worker?: boolean;
  /** Reuse a database (to restart the bot on the same state); a fresh one otherwise. */
  database?: TestDatabase;
  /** Log at debug level to this stream, through the logger the bot would make for itself. */
  logTo?: DestinationStream;
  /** User groups the emulated Slack has before the bot starts. */
  userGroups?: ReadonlyArray<{ id: string; handle: string; users: string[] }>;
  /** Readies the emulated Slack (its faults, say) before the bot starts. */
  beforeStart?: (slack: SlackEmulator) => void;
}

export async function startTestBot(options: TestBotOptions = {}): Promise<TestBot> {
  const db = options.database ?? (await createTestDatabase());
  const prefix = uniquePrefix();
  const slack = await startSlackEmulator({ token: TEST_SECRETS.botToken, appToken: TEST_SECRETS.appToken });
  for (const group of options.userGroups ?? [])
    slack.emulator.addUserGroup(group.id, group.handle, group.users);
  options.beforeStart?.(slack.emulator);
  const dir = await mkdtemp(join(tmpdir(), 'incident-bot-'));
  const configPath = join(dir, 'incident-bot.yml');
  await writeFile(configPath, options.configYaml ?? DEFAULT_TEST_CONFIG);
  const env: Record<string, string> = {
    SLACK_BOT_TOKEN: TEST_SECRETS.botToken,
    SLACK_SIGNING_SECRET: TEST_SECRETS.signingSecret,
    SLACK_API_URL: slack.apiUrl,
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl(),
    PORT: '0',
    ALERTMANAGER_TOKEN: TEST_SECRETS.alertmanagerToken,
    INCIDENT_BOT_CONFIG: configPath,
    QUEUE_PREFIX: prefix,
    LOG_LEVEL: 'silent',
    ...options.env,
  };
  let config: Config;
  let app: RunningApp;
  try {
    config = await loadConfig(env);
    app = await startApp(config, {
      http: true,
      worker: options.worker ?? true,
      logger: options.logTo
        ? createLogger('debug', secretsOf(config), options.logTo)
        : createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
    });
  } catch (err) {
    // A bot that cannot start leaves nothing behind, for the tests that expect it not to start.
    await slack.close();
    if (!options.database) await db.drop();
    throw err;
  }
  const url = `http://127.0.0.1:${app.port}`;
  const post = (path: string, body: string | object, headers: Record<string, string> = {}) =>
    fetch(`${url}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: typeof body === 'string' ? body : JSON.stringify(body),
    });
  return {
    url,
    app,
    slack,
    config,
    env,
    database: db,
    post,
    deliver: async (payload) =>
      untilIngested(
        app.pool,
        () => app.deliveriesIdle(),
        await post('/alertmanager', payload, { authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}` }),
      ),
    stop: async ({ keepDatabase = false } = {}) => {
      await app.stop();
      await slack.close();
      await clearRedisPrefix(prefix);
      if (!keepDatabase) await db.drop();
    },
  };
}

/** The bot's JSON answers, typed loosely enough for assertions. */
export function jsonOf(
  res: Response,
): Promise<{ [key: string]: unknown; outcome?: string; error?: string; incident?: string }> {
  return res.json() as Promise<{ outcome?: string; error?: string; incident?: string }>;
}
