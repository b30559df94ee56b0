import { request } from 'node:http';
import { type RunningApp, startApp } from '../../src/app.js';
import { type Config, loadConfig, SANDBOX_CONFIG_PATH } from '../../src/config/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { clearRedisPrefix, createTestDatabase, redisUrl, uniquePrefix } from './services.js';

export interface SandboxBot {
  /** Where the bot listens, e.g. http://127.0.0.1:41234; the page is at `${url}/sandbox`. */
  url: string;
  app: RunningApp;
  config: Config;
  stop(): Promise<void>;
}

/**
 * The bot as `npm start` runs it with no Slack settings, so in sandbox mode with the demo config; on
 * port 0, with a fresh database and a Redis prefix of its own.
 */
export async function startSandboxBot(env: Record<string, string> = {}): Promise<SandboxBot> {
  const db = await createTestDatabase();
  const prefix = uniquePrefix();
  const config = await loadConfig({
    DATABASE_URL: db.url,
    REDIS_URL: redisUrl(),
    PORT: '0',
    QUEUE_PREFIX: prefix,
    // Named, so that a config/incident-bot.yml of the developer's own cannot take its place.
    INCIDENT_BOT_CONFIG: SANDBOX_CONFIG_PATH,
    ...env,
  });
  const app = await startApp(config, {
    http: true,
    worker: true,
    logger: createLogger(process.env.TEST_LOG_LEVEL ?? 'silent'),
  });
  return {
    url: `http://127.0.0.1:${app.port}`,
    app,
    config,
    stop: async () => {
      await app.stop();
      await clearRedisPrefix(prefix);
      await db.drop();
    },
  };
}

/** The status of a GET of `url` naming another `host` (DNS rebinding: a page from a name resolving here). */
export function statusWithHost(url: string, host: string): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    const req = request(url, { headers: { host } }, (res) => {
      res.resume();
      resolve(res.statusCode!);
    });
    req.on('error', reject);
    req.end();
  });
}
