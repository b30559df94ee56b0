import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { alertmanagerAuth, parseEnv, SANDBOX_CONFIG_PATH } from '../../src/config/env.js';
import { ConfigError } from '../../src/config/errors.js';

const VALID = {
  SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdef',
  SLACK_SIGNING_SECRET: '0123456789abcdef',
  DATABASE_URL: 'postgres://bot:pw@db.internal:5432/incident_bot',
  ALERTMANAGER_TOKEN: 'am-token-0123456789',
} as const;

// Without SLACK_BOT_TOKEN the bot runs in sandbox mode, where nothing else is required.
const REQUIRED = ['SLACK_SIGNING_SECRET', 'DATABASE_URL', 'ALERTMANAGER_TOKEN'] as const;

/** The ConfigError parseEnv throws, so each test can assert on its exact lines. */
function configError(source: NodeJS.ProcessEnv): ConfigError {
  try {
    parseEnv(source);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected parseEnv to throw a ConfigError');
}

const problemsOf = (source: NodeJS.ProcessEnv) => configError(source).problems;

describe('parseEnv with valid values', () => {
  it('fills every optional variable with its documented default', () => {
    expect(parseEnv({ ...VALID })).toEqual({
      ...VALID,
      SLACK_API_URL: 'https://slack.com/api/',
      REDIS_URL: 'redis://127.0.0.1:6379',
      PORT: 3000,
      INCIDENT_BOT_CONFIG: 'config/incident-bot.yml',
      QUEUE_PREFIX: 'incident-bot',
      LOG_LEVEL: 'info',
      PAGERDUTY_EVENTS_URL: 'https://events.pagerduty.com/v2/enqueue',
      sandbox: false,
      sandboxDatabase: false,
      SHUTDOWN_TIMEOUT: 30_000,
    });
  });

  it('keeps only the variables it knows, ignoring the rest of the process environment', () => {
    const env = parseEnv({ ...VALID, PATH: '/usr/bin', HOME: '/root' });
    expect(env).not.toHaveProperty('PATH');
    expect(env).not.toHaveProperty('HOME');
  });

  it('coerces PORT to a number and accepts both ends of the range', () => {
    expect(parseEnv({ ...VALID, PORT: '8080' }).PORT).toBe(8080);
    expect(parseEnv({ ...VALID, PORT: '0' }).PORT).toBe(0);
    expect(parseEnv({ ...VALID, PORT: '65535' }).PORT).toBe(65535);
  });

  it('adds the trailing slash SLACK_API_URL needs to be a base URL', () => {
    expect(parseEnv({ ...VALID, SLACK_API_URL: 'http://127.0.0.1:9999/api' }).SLACK_API_URL).toBe(
      'http://127.0.0.1:9999/api/',
    );
    expect(parseEnv({ ...VALID, SLACK_API_URL: 'https://slack-gov.com/api/' }).SLACK_API_URL).toBe(
      'https://slack-gov.com/api/',
    );
  });

  it('accepts postgresql:// and rediss:// as well', () => {
    const env = parseEnv({
      ...VALID,
      DATABASE_URL: 'postgresql://db/incident_bot',
      REDIS_URL: 'rediss://:pw@cache:6380',
    });
    expect(env.DATABASE_URL).toBe('postgresql://db/incident_bot');
    expect(env.REDIS_URL).toBe('rediss://:pw@cache:6380');
  });

  it('passes optional values through when set', () => {
    const env = parseEnv({
      ...VALID,
      SLACK_APP_TOKEN: 'xapp-1-A0-123',
      TEMPLATES_DIR: '/etc/incident-bot/templates',
      INCIDENT_BOT_CONFIG: '/etc/incident-bot/config.yml',
      QUEUE_PREFIX: 'staging_bot-2',
      LOG_LEVEL: 'debug',
      SHUTDOWN_TIMEOUT: '2m',
    });
    expect(env).toMatchObject({
      SLACK_APP_TOKEN: 'xapp-1-A0-123',
      TEMPLATES_DIR: '/etc/incident-bot/templates',
      INCIDENT_BOT_CONFIG: '/etc/incident-bot/config.yml',
      QUEUE_PREFIX: 'staging_bot-2',
      LOG_LEVEL: 'debug',
      SHUTDOWN_TIMEOUT: 120_000,
    });
  });
});

describe('parseEnv with required variables missing', () => {
  it('reports every missing variable as `NAME: required`, one line each', () => {
    expect(problemsOf({ SLACK_BOT_TOKEN: VALID.SLACK_BOT_TOKEN })).toEqual([
      'SLACK_SIGNING_SECRET: required',
      'DATABASE_URL: required',
      'ALERTMANAGER_TOKEN: required',
    ]);
  });

  it.each(REQUIRED)('reports %s alone when only it is missing', (name) => {
    const source: NodeJS.ProcessEnv = { ...VALID };
    delete source[name];
    expect(problemsOf(source)).toEqual([`${name}: required`]);
  });

  it.each(REQUIRED)('treats an empty %s as unset', (name) => {
    expect(problemsOf({ ...VALID, [name]: '' })).toEqual([`${name}: required`]);
  });

  it('throws a ConfigError whose message is one indented line per problem under "environment"', () => {
    const error = configError({ ...VALID, SLACK_SIGNING_SECRET: undefined, ALERTMANAGER_TOKEN: '' });
    expect(error.name).toBe('ConfigError');
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.source).toBe('environment');
    expect(error.message).toBe(
      'environment:\n  SLACK_SIGNING_SECRET: required\n  ALERTMANAGER_TOKEN: required',
    );
  });
});

describe('parseEnv in Socket Mode (SLACK_APP_TOKEN set)', () => {
  const { SLACK_SIGNING_SECRET: _unused, ...withoutSecret } = VALID;
  const APP_TOKEN = 'xapp-1-A0INCIDENT-1234-abcdef';

  it('needs no signing secret: Slack signs nothing sent over the socket', () => {
    const env = parseEnv({ ...withoutSecret, SLACK_APP_TOKEN: APP_TOKEN });
    expect(env.SLACK_APP_TOKEN).toBe(APP_TOKEN);
    expect(env.SLACK_SIGNING_SECRET).toBeUndefined();
  });

  it('still checks a signing secret that is given', () => {
    expect(problemsOf({ ...VALID, SLACK_APP_TOKEN: APP_TOKEN, SLACK_SIGNING_SECRET: 'short' })).toEqual([
      'SLACK_SIGNING_SECRET: expected the app signing secret from the Slack app settings',
    ]);
  });

  it('names the bad app token, not the missing secret, when SLACK_APP_TOKEN is not an app token', () => {
    expect(problemsOf({ ...withoutSecret, SLACK_APP_TOKEN: 'xoxb-1-2' })).toEqual([
      'SLACK_APP_TOKEN: expected an app-level token starting with xapp-',
    ]);
  });

  it('requires the signing secret again when SLACK_APP_TOKEN is empty, which counts as unset', () => {
    expect(problemsOf({ ...withoutSecret, SLACK_APP_TOKEN: '' })).toEqual(['SLACK_SIGNING_SECRET: required']);
  });
});

describe('parseEnv treats an empty optional variable as unset', () => {
  it('uses the default instead of failing on the empty string', () => {
    const env = parseEnv({
      ...VALID,
      PORT: '',
      REDIS_URL: '',
      SLACK_API_URL: '',
      QUEUE_PREFIX: '',
      LOG_LEVEL: '',
      INCIDENT_BOT_CONFIG: '',
      TEMPLATES_DIR: '',
      SLACK_APP_TOKEN: '',
    });
    expect(env.PORT).toBe(3000);
    expect(env.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(env.SLACK_API_URL).toBe('https://slack.com/api/');
    expect(env.QUEUE_PREFIX).toBe('incident-bot');
    expect(env.LOG_LEVEL).toBe('info');
    expect(env.INCIDENT_BOT_CONFIG).toBe('config/incident-bot.yml');
    expect(env.TEMPLATES_DIR).toBeUndefined();
    expect(env.SLACK_APP_TOKEN).toBeUndefined();
  });
});

describe('parseEnv with bad values', () => {
  it.each([
    ['SLACK_BOT_TOKEN', 'abc-123', 'SLACK_BOT_TOKEN: expected a bot token starting with xoxb-'],
    ['SLACK_BOT_TOKEN', 'xoxb-', 'SLACK_BOT_TOKEN: expected a bot token starting with xoxb-'],
    ['SLACK_BOT_TOKEN', 'xapp-1-A0-123', 'SLACK_BOT_TOKEN: expected a bot token starting with xoxb-'],
    [
      'SLACK_SIGNING_SECRET',
      'short',
      'SLACK_SIGNING_SECRET: expected the app signing secret from the Slack app settings',
    ],
    ['SLACK_APP_TOKEN', 'xoxb-1-2', 'SLACK_APP_TOKEN: expected an app-level token starting with xapp-'],
    ['SLACK_API_URL', 'ftp://slack.com/api/', 'SLACK_API_URL: expected a URL like https://slack.com/api/'],
    ['SLACK_API_URL', 'slack.com/api', 'SLACK_API_URL: expected a URL like https://slack.com/api/'],
    [
      'DATABASE_URL',
      'mysql://db/incident_bot',
      'DATABASE_URL: expected a URL like postgres://user@host:5432/incident_bot',
    ],
    ['DATABASE_URL', 'not a url', 'DATABASE_URL: expected a URL like postgres://user@host:5432/incident_bot'],
    ['REDIS_URL', 'http://127.0.0.1:6379', 'REDIS_URL: expected a URL like redis://127.0.0.1:6379'],
    ['PORT', '70000', 'PORT: expected a port number from 0 to 65535'],
    ['PORT', '65536', 'PORT: expected a port number from 0 to 65535'],
    ['PORT', '-1', 'PORT: expected a port number from 0 to 65535'],
    ['PORT', '80.5', 'PORT: expected a port number from 0 to 65535'],
    ['PORT', 'http', 'PORT: expected a port number from 0 to 65535'],
    [
      'ALERTMANAGER_TOKEN',
      'fifteen-chars!!',
      'ALERTMANAGER_TOKEN: expected a bearer token of at least 16 characters',
    ],
    ['QUEUE_PREFIX', 'incident bot', 'QUEUE_PREFIX: expected letters, digits, - or _'],
    ['QUEUE_PREFIX', 'bot:prod', 'QUEUE_PREFIX: expected letters, digits, - or _'],
    ['SHUTDOWN_TIMEOUT', '30', 'SHUTDOWN_TIMEOUT: expected a duration like 30s, 15m, 2h or 7d'],
    // A Node timer waits at most about 24.8 days: a longer stop's deadline passed at once.
    ['SHUTDOWN_TIMEOUT', '25d', 'SHUTDOWN_TIMEOUT: expected at most 24d (the longest a timer waits)'],
    // Kept from a secret file made with `echo`: no request's signature or token would ever match.
    [
      'SLACK_SIGNING_SECRET',
      '0123456789abcdef\n',
      'SLACK_SIGNING_SECRET: expected the signing secret without spaces, line breaks or control characters',
    ],
    [
      'SLACK_SIGNING_SECRET',
      '0123 4567 89ab cdef',
      'SLACK_SIGNING_SECRET: expected the signing secret without spaces, line breaks or control characters',
    ],
    [
      'ALERTMANAGER_TOKEN',
      'am-token-0123456789\n',
      'ALERTMANAGER_TOKEN: expected a token without spaces, line breaks or control characters',
    ],
    [
      'LOG_LEVEL',
      'verbose',
      'LOG_LEVEL: Invalid option: expected one of "fatal"|"error"|"warn"|"info"|"debug"|"trace"|"silent"',
    ],
  ])('%s=%j gives a line naming the key', (name, value, line) => {
    expect(problemsOf({ ...VALID, [name]: value })).toEqual([line]);
  });

  it('accepts a 16-character Alertmanager token, the documented minimum', () => {
    expect(parseEnv({ ...VALID, ALERTMANAGER_TOKEN: 'sixteen-chars!!!' }).ALERTMANAGER_TOKEN).toBe(
      'sixteen-chars!!!',
    );
  });

  it('reports missing and bad variables together, in schema order', () => {
    expect(
      problemsOf({
        SLACK_BOT_TOKEN: 'nope',
        DATABASE_URL: 'redis://cache',
        PORT: '99999',
      }),
    ).toEqual([
      'SLACK_BOT_TOKEN: expected a bot token starting with xoxb-',
      'SLACK_SIGNING_SECRET: required',
      'DATABASE_URL: expected a URL like postgres://user@host:5432/incident_bot',
      'PORT: expected a port number from 0 to 65535',
      'ALERTMANAGER_TOKEN: required',
    ]);
  });
});

describe('parseEnv in sandbox mode (no Slack token)', () => {
  it('needs nothing: it makes up the secrets and uses the local Postgres', () => {
    const env = parseEnv({});
    expect(env).toMatchObject({
      sandbox: true,
      SLACK_BOT_TOKEN: expect.stringMatching(/^xoxb-sandbox-[0-9a-f]{48}$/),
      SLACK_SIGNING_SECRET: expect.stringMatching(/^[0-9a-f]{48}$/),
      ALERTMANAGER_TOKEN: expect.stringMatching(/^[0-9a-f]{48}$/),
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/postgres',
      REDIS_URL: 'redis://127.0.0.1:6379',
      PORT: 3000,
      INCIDENT_BOT_CONFIG: SANDBOX_CONFIG_PATH,
      QUEUE_PREFIX: 'incident-bot-sandbox',
    });
    expect(env.ALERTMANAGER_TOKEN).not.toBe(env.SLACK_SIGNING_SECRET);
  });

  it('may start a PostgreSQL of its own only when no DATABASE_URL is given, where SANDBOX_DATABASE_URL says', () => {
    expect(parseEnv({}).sandboxDatabase).toBe(true);
    const moved = parseEnv({ SANDBOX_DATABASE_URL: 'postgres://postgres@127.0.0.1:15432/postgres' });
    expect(moved).toMatchObject({
      sandboxDatabase: true,
      DATABASE_URL: 'postgres://postgres@127.0.0.1:15432/postgres',
    });
    expect(parseEnv({ DATABASE_URL: VALID.DATABASE_URL }).sandboxDatabase).toBe(false);
    expect(parseEnv({ ...VALID }).sandboxDatabase).toBe(false);
  });

  it('makes up new secrets for every process', () => {
    const [a, b] = [parseEnv({}), parseEnv({})];
    expect(a.SLACK_BOT_TOKEN).not.toBe(b.SLACK_BOT_TOKEN);
    expect(a.SLACK_SIGNING_SECRET).not.toBe(b.SLACK_SIGNING_SECRET);
    expect(a.ALERTMANAGER_TOKEN).not.toBe(b.ALERTMANAGER_TOKEN);
  });

  it('keeps what is given, so a local Alertmanager can be pointed at it with a known token', () => {
    const env = parseEnv({
      SLACK_SIGNING_SECRET: VALID.SLACK_SIGNING_SECRET,
      ALERTMANAGER_TOKEN: VALID.ALERTMANAGER_TOKEN,
      DATABASE_URL: VALID.DATABASE_URL,
      PORT: '8080',
    });
    expect(env).toMatchObject({
      sandbox: true,
      SLACK_SIGNING_SECRET: VALID.SLACK_SIGNING_SECRET,
      ALERTMANAGER_TOKEN: VALID.ALERTMANAGER_TOKEN,
      DATABASE_URL: VALID.DATABASE_URL,
      PORT: 8080,
    });
  });

  it('counts an empty SLACK_BOT_TOKEN as unset', () => {
    expect(parseEnv({ SLACK_BOT_TOKEN: '' }).sandbox).toBe(true);
  });

  it('still refuses bad values', () => {
    expect(problemsOf({ PORT: 'http', ALERTMANAGER_TOKEN: 'short' })).toEqual([
      'PORT: expected a port number from 0 to 65535',
      'ALERTMANAGER_TOKEN: expected a bearer token of at least 16 characters',
    ]);
  });

  it('is not entered with an app token alone: that is a real workspace missing its bot token', () => {
    expect(problemsOf({ ...VALID, SLACK_BOT_TOKEN: undefined, SLACK_APP_TOKEN: 'xapp-1-A0-123' })).toEqual([
      'SLACK_BOT_TOKEN: required',
    ]);
  });

  // A deployment that lost its token must stop, not run against its own database with a made-up Slack.
  it.each([
    ['a config file of its own', { INCIDENT_BOT_CONFIG: 'config/incident-bot.example.yml' }],
    ['NODE_ENV=production', { NODE_ENV: 'production' }],
  ])('is not entered with %s', (_, source) => {
    expect(problemsOf({ ...VALID, SLACK_BOT_TOKEN: undefined, ...source })).toEqual([
      'SLACK_BOT_TOKEN: required',
    ]);
  });

  it('is entered with the demo config named explicitly', () => {
    expect(parseEnv({ INCIDENT_BOT_CONFIG: SANDBOX_CONFIG_PATH }).sandbox).toBe(true);
  });
});

describe('DATABASE_PASSWORD', () => {
  const WITHOUT_PASSWORD = 'postgres://incident_bot@postgres:5432/incident_bot';
  /** Where and as whom pg connects with the URL the bot was given: what counts. */
  const connectionOf = (url: string) => {
    const { user, password, host, port, database } = new pg.Client({ connectionString: url });
    return { user, password, host, port, database };
  };

  // Written into the URL as they are, each of these cuts the password short or moves the host.
  it.each(['p@ss', 'a:b/c', 'x#y?z', '100%', '%41%42', 'with space', 'pa"ss\\word', 'ünïcødé'])(
    'is taken beside a URL without a password, whatever it holds: %j',
    (password) => {
      const env = parseEnv({ ...VALID, DATABASE_URL: WITHOUT_PASSWORD, DATABASE_PASSWORD: password });
      expect(connectionOf(env.DATABASE_URL)).toEqual({
        user: 'incident_bot',
        password,
        host: 'postgres',
        port: 5432,
        database: 'incident_bot',
      });
      expect(env).not.toHaveProperty('DATABASE_PASSWORD');
    },
  );

  it('is refused beside a URL that has a password of its own: which one is meant is not known', () => {
    expect(problemsOf({ ...VALID, DATABASE_PASSWORD: 'another' })).toEqual([
      'DATABASE_PASSWORD: expected DATABASE_URL without a password when DATABASE_PASSWORD is set',
    ]);
  });

  it('leaves a DATABASE_URL that is not a URL to its own problem', () => {
    expect(problemsOf({ ...VALID, DATABASE_URL: 'not a url', DATABASE_PASSWORD: 'pw' })).toEqual([
      'DATABASE_URL: expected a URL like postgres://user@host:5432/incident_bot',
    ]);
  });

  it('counts as unset when empty, as every variable does', () => {
    expect(parseEnv({ ...VALID, DATABASE_PASSWORD: '' }).DATABASE_URL).toBe(VALID.DATABASE_URL);
  });
});

describe("credentials for Alertmanager's API", () => {
  it('takes a bearer token, or a username with its password', () => {
    expect(alertmanagerAuth(parseEnv({ ...VALID }))).toBeUndefined();
    expect(alertmanagerAuth(parseEnv({ ...VALID, ALERTMANAGER_API_TOKEN: 't0ken' }))).toEqual({
      kind: 'bearer',
      token: 't0ken',
    });
    expect(
      alertmanagerAuth(
        parseEnv({ ...VALID, ALERTMANAGER_API_USERNAME: 'bot', ALERTMANAGER_API_PASSWORD: 'pw' }),
      ),
    ).toEqual({ kind: 'basic', username: 'bot', password: 'pw' });
  });

  it.each([
    [
      { ALERTMANAGER_API_TOKEN: 't', ALERTMANAGER_API_USERNAME: 'bot', ALERTMANAGER_API_PASSWORD: 'pw' },
      'ALERTMANAGER_API_TOKEN: expected either a token or ALERTMANAGER_API_USERNAME and _PASSWORD, not both',
    ],
    [
      { ALERTMANAGER_API_USERNAME: 'bot' },
      'ALERTMANAGER_API_PASSWORD: expected with ALERTMANAGER_API_USERNAME and ALERTMANAGER_API_PASSWORD both set',
    ],
    [
      { ALERTMANAGER_API_PASSWORD: 'pw' },
      'ALERTMANAGER_API_USERNAME: expected with ALERTMANAGER_API_USERNAME and ALERTMANAGER_API_PASSWORD both set',
    ],
  ])('refuses half or twice given credentials: %j', (given, line) => {
    expect(problemsOf({ ...VALID, ...given })).toEqual([line]);
  });

  it('refuses a token with a line break inside, without showing it (fetch would quote it in its error)', () => {
    // fetch refuses such a header by a TypeError quoting it whole ("Headers.append: "Bearer …" is an
    // invalid header value"), which the silence commands passed on to Slack as Alertmanager's reason.
    const problems = problemsOf({ ...VALID, ALERTMANAGER_API_TOKEN: 'am-api-s3cr3t\r\nsecond-line' });
    expect(problems).toEqual([
      'ALERTMANAGER_API_TOKEN: expected a token without spaces, line breaks or control characters',
    ]);
    expect(problems.join('\n')).not.toContain('s3cr3t');
  });
});
