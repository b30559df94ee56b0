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
