import { describe, expect, it } from 'vitest';
import { secretsOf } from '../src/app.js';
import { parseEnv } from '../src/config/env.js';
import { parseFileConfig } from '../src/config/file.js';
import { createLogger } from '../src/observability/logger.js';

describe('secretsOf', () => {
  const config = {
    env: parseEnv({
      SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdef',
      SLACK_SIGNING_SECRET: '0123456789abcdef',
      SLACK_APP_TOKEN: 'xapp-1-A0-987654321',
      DATABASE_URL: 'postgres://bot:p%40ss-w0rd-long@db:5432/incident_bot',
      REDIS_URL: 'redis://:redis-pass-123456@redis:6379',
      ALERTMANAGER_TOKEN: 'am-token-0123456789',
    }),
    file: parseFileConfig('test.yml', 'slack:\n  defaultChannel: C0123ABCD\n'),
    pagerSecrets: { 'oncall-pagerduty': 'pd-routing-key-0123456789' },
  };

  it("lists the tokens, the signing secret, the pagers' secrets, and the database and Redis passwords as they are sent", () => {
    expect(secretsOf(config).sort()).toEqual(
      [
        'xoxb-1234-5678-abcdef',
        '0123456789abcdef',
        'xapp-1-A0-987654321',
        'am-token-0123456789',
        'p@ss-w0rd-long',
        'redis-pass-123456',
        'pd-routing-key-0123456789',
      ].sort(),
    );
  });

  it('lets the logger hide a password that shows up outside any URL', () => {
    const lines: string[] = [];
    const logger = createLogger('info', secretsOf(config), {
      write: (line: string) => void lines.push(line),
    });
    logger.error({ err: new Error('auth failed with p@ss-w0rd-long') }, 'database refused us');
    expect(lines.join('')).not.toContain('p@ss-w0rd-long');
    expect(lines.join('')).toContain('auth failed with [REDACTED]');
  });

  it('has nothing to add for URLs without a password', () => {
    const bare = {
      ...config,
      env: { ...config.env, DATABASE_URL: 'postgres://bot@db/x', REDIS_URL: 'redis://r' },
    };
    expect(secretsOf(bare)).toHaveLength(5);
  });
});

describe('secretsOf, with the secrets the env holds for Alertmanager, checks and actions', () => {
  const base = {
    SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdef',
    SLACK_SIGNING_SECRET: '0123456789abcdef',
    DATABASE_URL: 'postgres://bot@db:5432/incident_bot',
    ALERTMANAGER_TOKEN: 'am-token-0123456789',
  };
  const file = parseFileConfig(
    'test.yml',
    `slack:
  defaultChannel: C0123ABCD
services:
  payments-api:
    checks:
      - { name: db, kind: postgres, connectionEnv: PAYMENTS_DATABASE_URL }
      - { name: cache, kind: redis, connectionEnv: PAYMENTS_REDIS_URL }
      - { name: errors, kind: prometheus, url: 'http://prometheus:9090', query: up, failAt: 1, tokenEnv: PROM_TOKEN }
      - { name: latency, kind: prometheus, url: 'http://thanos:9090', query: up, failAt: 1, usernameEnv: THANOS_USER, passwordEnv: THANOS_PASSWORD }
    actions:
      - name: deploy
        description: Deploy
        kind: rollback
        driver: { type: command, argv: [deploy], env: { allow: [DEPLOY_ENV, { name: DEPLOY_TOKEN, secret: true }] } }
        approval: { approvers: [U0BOB], required: 1 }
      - name: flag
        description: Flip a flag
        kind: rollback
        driver: { type: http, url: 'https://flags.internal/x', headers: { authorization: { env: FLAGS_TOKEN, prefix: 'Bearer ' } } }
        approval: { approvers: [U0BOB], required: 1 }
      - name: unlock
        description: Unlock
        kind: rollback
        driver: { type: sql, connectionEnv: METASHEET_DATABASE_URL, statements: ['SELECT 1'] }
        approval: { approvers: [U0BOB], required: 1 }
`,
  );
  const source = {
    ...base,
    ALERTMANAGER_API_TOKEN: 'am-api-token-0123456789',
    PAYMENTS_DATABASE_URL: 'postgres://payments:pg%2Fpass-0123@db:5432/payments',
    PAYMENTS_REDIS_URL: 'redis://:redis-pass-0123456@cache:6379',
    PROM_TOKEN: 'prom-token-0123456789',
    THANOS_USER: 'incident-bot',
    THANOS_PASSWORD: 'thanos-pass-0123456789',
    DEPLOY_ENV: 'production',
    DEPLOY_TOKEN: 'dpl_live_0123456789',
    FLAGS_TOKEN: 'flags-token-0123456789',
    METASHEET_DATABASE_URL: 'host=db user=migrator password=Tr0ub4dor-and-3',
  };
  const config = { env: parseEnv(source), file, pagerSecrets: {} };

  it('lists the Alertmanager API token, and the values of the env vars checks and actions name for secrets', () => {
    const secrets = secretsOf(config, source);
    for (const secret of [
      'am-api-token-0123456789',
      'pg/pass-0123',
      'redis-pass-0123456',
      'prom-token-0123456789',
      'thanos-pass-0123456789',
      'dpl_live_0123456789',
      'flags-token-0123456789',
      'host=db user=migrator password=Tr0ub4dor-and-3',
      'Tr0ub4dor-and-3',
    ])
      expect(secrets).toContain(secret);
    // Names and plain settings are not secrets: hiding them would blank ordinary log text.
    expect(secrets).not.toContain('incident-bot');
    expect(secrets).not.toContain('production');
  });

  it('lists the Alertmanager API password of basic auth', () => {
    const basic = {
      ...base,
      ALERTMANAGER_API_USERNAME: 'incident-bot',
      ALERTMANAGER_API_PASSWORD: 'am-pass-0123456789',
    };
    expect(secretsOf({ env: parseEnv(basic), file, pagerSecrets: {} }, basic)).toContain(
      'am-pass-0123456789',
    );
  });

  it('lets the logger hide them wherever they show up', () => {
    const lines: string[] = [];
    const logger = createLogger('info', secretsOf(config, source), {
      write: (line: string) => void lines.push(line),
    });
    logger.warn(`check failed: prom-token-0123456789 refused; login failed for Tr0ub4dor-and-3`);
    expect(lines.join('')).toContain('check failed: [REDACTED] refused; login failed for [REDACTED]');
  });
});
