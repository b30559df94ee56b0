import { expect, it } from 'vitest';
import { parseEnv } from '../../src/config/env.js';
import { ConfigError } from '../../src/config/errors.js';

/** From the review of issue 15: Alertmanager's credentials are never shown, even malformed. */

const VALID = {
  SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdef',
  SLACK_SIGNING_SECRET: '0123456789abcdef',
  DATABASE_URL: 'postgres://bot:pw@db.internal:5432/incident_bot',
  ALERTMANAGER_TOKEN: 'am-token-0123456789',
} as const;

it('refuses at start an ALERTMANAGER_API_TOKEN with a line break inside, without showing it', () => {
  // fetch refuses such a header with a TypeError quoting it whole ("Headers.append: "Bearer …" is an
  // invalid header value"), which the silence commands passed on to Slack as Alertmanager's reason.
  const token = 'am-api-s3cr3t\r\nsecond-line';
  let problems: string[] = [];
  try {
    parseEnv({ ...VALID, ALERTMANAGER_API_TOKEN: token });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems = err.problems;
  }
  expect(problems).toEqual([
    'ALERTMANAGER_API_TOKEN: expected a token without spaces, line breaks or control characters',
  ]);
  expect(problems.join('\n')).not.toContain('s3cr3t');
});
