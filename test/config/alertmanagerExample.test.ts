import { readFile } from 'node:fs/promises';
import pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { parseEnv } from '../../src/config/env.js';
import { parseFileConfig } from '../../src/config/file.js';
import { Duration } from '../../src/primitives/duration.js';

interface WebhookConfig {
  url?: string;
  send_resolved?: boolean;
  max_alerts?: number;
  http_config?: { authorization?: { type?: string; credentials?: string; credentials_file?: string } };
}
interface Route {
  receiver?: string;
  matchers?: string[];
  group_wait?: string;
  group_interval?: string;
  repeat_interval?: string;
  routes?: Route[];
}
interface AlertmanagerConfig {
  route?: Route;
  receivers?: Array<{ name: string; webhook_configs?: WebhookConfig[] }>;
}

describe('config/alertmanager.example.yml', () => {
  let config: AlertmanagerConfig;
  let webhook: WebhookConfig;
  beforeAll(async () => {
    config = parse(await readFile(new URL('../../config/alertmanager.example.yml', import.meta.url), 'utf8'));
    const receiver = config.receivers?.find((r) => r.name === config.route?.receiver);
    expect(receiver, 'the receiver the route names').toBeDefined();
    expect(receiver!.webhook_configs).toHaveLength(1);
    webhook = receiver!.webhook_configs![0]!;
  });

  it("routes to a webhook on the bot's /alertmanager path", () => {
    expect(new URL(webhook.url!).pathname).toBe('/alertmanager');
  });

  it('sends resolved notifications, which resolve incidents', () => {
    expect(webhook.send_resolved).toBe(true);
  });

  it('sends the bearer token the bot checks, from a file or inline but not both', () => {
    const auth = webhook.http_config?.authorization;
    expect(auth?.type).toBe('Bearer');
    expect([auth?.credentials, auth?.credentials_file].filter(Boolean)).toHaveLength(1);
  });

  // Alertmanager truncates before it works the status out: a truncated "resolved" tells of the alerts
  // listed alone, and the bot cannot resolve the group from it (test/e2e/truncatedResolutions.test.ts).
  it('leaves max_alerts unset, so that a resolved notification tells of the whole group', () => {
    expect(webhook.max_alerts ?? 0).toBe(0);
  });

  it("sends the bot's heartbeat at once and again within incident-bot.example.yml's expectEvery", async () => {
    const path = new URL('../../config/incident-bot.example.yml', import.meta.url).pathname;
    const { heartbeat } = parseFileConfig(path, await readFile(path, 'utf8'));
    expect(heartbeat).toBeDefined();
    // The first route that matches takes the alert: the heartbeat's must be the first to match it.
    const route = config.route?.routes?.[0];
    expect(route?.matchers).toEqual([`alertname="${heartbeat!.alertname}"`]);
    // Its own receiver, if any, is the bot's; repeat_interval is how often the bot hears from it.
    expect(route?.receiver ?? config.route?.receiver).toBe(config.route?.receiver);
    // Alertmanager repeats a notification at the first group_interval tick after repeat_interval.
    expect(Duration.parse(route?.repeat_interval) + Duration.parse(route?.group_interval)).toBeLessThan(
      heartbeat!.expectEvery,
    );
    expect(route?.group_wait).toBe('0s');
  });
});

describe('docker-compose.yml', () => {
  interface ComposeService {
    command?: string[];
    environment?: Record<string, string>;
    volumes?: string[];
    secrets?: Array<string | { source: string; target?: string }>;
  }
  let compose: { services: Record<string, ComposeService> };
  beforeAll(async () => {
    // The bot's services share their settings through a YAML merge key, as compose reads it.
    compose = parse(await readFile(new URL('../../docker-compose.yml', import.meta.url), 'utf8'), {
      merge: true,
    });
  });

  /** A service's environment as compose makes it from .env: ${NAME}, ${NAME:?message}, ${NAME:-default}. */
  const interpolated = (environment: Record<string, string>, dotEnv: Record<string, string>) =>
    Object.fromEntries(
      Object.entries(environment).map(([name, value]) => [
        name,
        value.replace(/\$\{(\w+)(?::?[?-][^}]*)?\}/g, (_, variable: string) => dotEnv[variable] ?? ''),
      ]),
    );

  it('gives the bot the database password apart from the URL, so that any password works', () => {
    // Interpolated into the URL, @ and : moved the host and # cut the rest off.
    const dotEnv = {
      SLACK_BOT_TOKEN: 'xoxb-1-2-abc',
      SLACK_SIGNING_SECRET: '0123456789abcdef',
      ALERTMANAGER_TOKEN: 'am-token-0123456789',
      POSTGRES_PASSWORD: 'p@ss:w/rd#1%41?',
    };
    const postgres = interpolated(compose.services.postgres!.environment!, dotEnv);
    const bots = Object.values(compose.services).filter((service) => service.environment?.DATABASE_URL);
    expect(bots.map((service) => service.command?.[0])).toEqual(['migrate', 'serve', 'worker']);
    for (const service of bots) {
      // env_file: .env, then the service's own environment.
      const env = parseEnv({ ...dotEnv, ...interpolated(service.environment!, dotEnv) });
      const { user, password, host, database } = new pg.Client({ connectionString: env.DATABASE_URL });
      expect({ user, password, host, database }).toEqual({
        user: postgres.POSTGRES_USER,
        password: postgres.POSTGRES_PASSWORD,
        host: 'postgres',
        database: postgres.POSTGRES_DB,
      });
    }
  });

  it('interpolates no variable into a URL, where it would be read as part of the URL', () => {
    for (const service of Object.values(compose.services)) {
      for (const value of Object.values(service.environment ?? {})) {
        if (value.includes('://')) expect(value).not.toContain('$');
      }
    }
  });

  it("gives its Alertmanager the example config, its bot's address and the token file it names", async () => {
    const example: AlertmanagerConfig = parse(
      await readFile(new URL('../../config/alertmanager.example.yml', import.meta.url), 'utf8'),
    );
    const webhook = example.receivers?.[0]?.webhook_configs?.[0];
    const alertmanager = compose.services.alertmanager!;
    expect(alertmanager.volumes).toContain(
      './config/alertmanager.example.yml:/etc/alertmanager/alertmanager.yml:ro',
    );
    const url = new URL(webhook!.url!);
    expect(Object.keys(compose.services)).toContain(url.hostname);
    expect(url.port).toBe('3000');
    expect(alertmanager.secrets).toContainEqual({
      source: 'alertmanager_token',
      target: webhook!.http_config!.authorization!.credentials_file,
    });
  });
});
