import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import type { AlertmanagerAuth } from '../alertmanager/alertmanagerApi.js';
import { PAGERDUTY_EVENTS_URL } from '../pagers/pagerDuty.js';
import { TimerDuration } from '../primitives/duration.js';
import { ConfigError, formatZodIssues, requiredMessage } from './errors.js';

const url = (protocols: string[], example: string) =>
  z.string().refine(
    (value) => {
      try {
        return protocols.includes(new URL(value).protocol);
      } catch {
        return false;
      }
    },
    { message: `expected a URL like ${example}` },
  );

/** Printable ASCII and no space: what a secret sent in a header, or signed with, may hold. */
const VISIBLE = /^[\x21-\x7e]+$/;

export const DEFAULT_CONFIG_PATH = 'config/incident-bot.yml';
/** The demo config the sandbox falls back to; it ships with the code, so it is found from anywhere. */
export const SANDBOX_CONFIG_PATH = fileURLToPath(new URL('../../config/sandbox.yml', import.meta.url));

const EnvSchema = z.object({
  SLACK_BOT_TOKEN: z.string().regex(/^xoxb-[\w-]+$/, 'expected a bot token starting with xoxb-'),
  // A line break or space kept from a secret file (`echo` adds one) would fail every signature: refused.
  SLACK_SIGNING_SECRET: z
    .string()
    .min(8, 'expected the app signing secret from the Slack app settings')
    .regex(VISIBLE, 'expected the signing secret without spaces, line breaks or control characters'),
  SLACK_APP_TOKEN: z
    .string()
    .regex(/^xapp-[\w-]+$/, 'expected an app-level token starting with xapp-')
    .optional(),
  SLACK_API_URL: url(['https:', 'http:'], 'https://slack.com/api/')
    .default('https://slack.com/api/')
    .transform((value) => (value.endsWith('/') ? value : `${value}/`)),
  DATABASE_URL: url(['postgres:', 'postgresql:'], 'postgres://user@host:5432/incident_bot'),
  // The password of DATABASE_URL's user, given apart: one holding @, :, / or # put into the URL as it is
  // (compose's interpolation does) cuts it short or moves the host. Any text, spaces included.
  DATABASE_PASSWORD: z.string().optional(),
  REDIS_URL: url(['redis:', 'rediss:'], 'redis://127.0.0.1:6379').default('redis://127.0.0.1:6379'),
  PORT: z
    .string()
    .regex(/^\d{1,5}$/, 'expected a port number from 0 to 65535')
    .transform(Number)
    .refine((port) => port <= 65535, 'expected a port number from 0 to 65535')
    .default(3000),
  // An Authorization header carries no whitespace in its token: one holding any would never match.
  ALERTMANAGER_TOKEN: z
    .string()
    .min(16, 'expected a bearer token of at least 16 characters')
    .regex(VISIBLE, 'expected a token without spaces, line breaks or control characters'),
  // How the bot authenticates to Alertmanager's API (config `alertmanager`): a bearer token or basic auth.
  // Sent as a header, which fetch refuses to carry a line break in, quoting the header whole in its error.
  ALERTMANAGER_API_TOKEN: z
    .string()
    .regex(VISIBLE, 'expected a token without spaces, line breaks or control characters')
    .optional(),
  ALERTMANAGER_API_USERNAME: z.string().min(1).optional(),
  ALERTMANAGER_API_PASSWORD: z.string().min(1).optional(),
  // Where PagerDuty pagers send events: PagerDuty's Events API v2, or a stand-in (tests, a relay).
  PAGERDUTY_EVENTS_URL: url(['https:', 'http:'], PAGERDUTY_EVENTS_URL).default(PAGERDUTY_EVENTS_URL),
  INCIDENT_BOT_CONFIG: z.string().min(1).default(DEFAULT_CONFIG_PATH),
  TEMPLATES_DIR: z.string().min(1).optional(),
  QUEUE_PREFIX: z
    .string()
    .regex(/^[\w-]+$/, 'expected letters, digits, - or _')
    .default('incident-bot'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  // How long a stop waits for running jobs and requests before closing anyway.
  SHUTDOWN_TIMEOUT: TimerDuration.default(30_000),
});

// Socket Mode: Slack's requests come over a socket the bot opens with SLACK_APP_TOKEN, so none is signed.
const SocketModeEnvSchema = EnvSchema.extend({
  SLACK_SIGNING_SECRET: EnvSchema.shape.SLACK_SIGNING_SECRET.optional(),
});

/** One way to authenticate to Alertmanager, whole: a token, or a username with its password. */
function checkAlertmanagerAuth(env: z.infer<typeof SocketModeEnvSchema>, ctx: z.RefinementCtx): void {
  const { ALERTMANAGER_API_TOKEN: token, ALERTMANAGER_API_USERNAME: user } = env;
  const password = env.ALERTMANAGER_API_PASSWORD;
  if (token && (user || password)) {
    ctx.addIssue({
      code: 'custom',
      path: ['ALERTMANAGER_API_TOKEN'],
      message: 'expected either a token or ALERTMANAGER_API_USERNAME and _PASSWORD, not both',
    });
  } else if (Boolean(user) !== Boolean(password)) {
    ctx.addIssue({
      code: 'custom',
      path: [user ? 'ALERTMANAGER_API_PASSWORD' : 'ALERTMANAGER_API_USERNAME'],
      message: 'expected with ALERTMANAGER_API_USERNAME and ALERTMANAGER_API_PASSWORD both set',
    });
  }
}

/** A password in DATABASE_URL and DATABASE_PASSWORD beside it: which one is meant is not known. */
function checkDatabasePassword(env: z.infer<typeof SocketModeEnvSchema>, ctx: z.RefinementCtx): void {
  // A URL that is not one has its own problem, reported with this one.
  const url = URL.canParse(env.DATABASE_URL) ? new URL(env.DATABASE_URL) : undefined;
  if (env.DATABASE_PASSWORD !== undefined && url?.password) {
    ctx.addIssue({
      code: 'custom',
      path: ['DATABASE_PASSWORD'],
      message: 'expected DATABASE_URL without a password when DATABASE_PASSWORD is set',
    });
  }
}

/**
 * DATABASE_URL with DATABASE_PASSWORD written into it, encoded, so that everything that reads the URL (pg,
 * doctor, the logger's list of secrets) takes the password as it was given.
 */
function withDatabasePassword<T extends { DATABASE_URL: string; DATABASE_PASSWORD?: string | undefined }>(
  env: T,
): Omit<T, 'DATABASE_PASSWORD'> {
  const { DATABASE_PASSWORD: password, ...rest } = env;
  if (password === undefined) return rest;
  const url = new URL(rest.DATABASE_URL);
  // The URL's own encoding leaves % as it is, which pg would then decode.
  url.password = encodeURIComponent(password);
  return { ...rest, DATABASE_URL: url.href };
}

/** The credentials for Alertmanager's API the environment gives, if any. */
export function alertmanagerAuth(env: Env): AlertmanagerAuth | undefined {
  if (env.ALERTMANAGER_API_TOKEN) return { kind: 'bearer', token: env.ALERTMANAGER_API_TOKEN };
  if (env.ALERTMANAGER_API_USERNAME && env.ALERTMANAGER_API_PASSWORD) {
    return {
      kind: 'basic',
      username: env.ALERTMANAGER_API_USERNAME,
      password: env.ALERTMANAGER_API_PASSWORD,
    };
  }
  return undefined;
}

export type Env = Omit<z.infer<typeof SocketModeEnvSchema>, 'DATABASE_PASSWORD'> & {
  /** A first try: the bot runs against the built-in sandbox (src/sandbox/sandbox.ts). See isSandbox. */
  sandbox: boolean;
  /**
   * The sandbox, with no DATABASE_URL given: if nothing answers at its default address, it may start
   * a PostgreSQL of its own there (src/sandbox/embeddedPostgres.ts). A deployment never does.
   */
  sandboxDatabase: boolean;
};

const secret = () => randomBytes(24).toString('hex');

/**
 * What the sandbox needs but nobody has to give it: secrets only this process and its emulated Slack
 * share, made up anew at every start, the local Postgres this project's README starts with, and a queue
 * prefix of its own.
 */
function sandboxDefaults(present: NodeJS.ProcessEnv): Record<string, string> {
  return {
    SLACK_SIGNING_SECRET: secret(),
    ALERTMANAGER_TOKEN: secret(),
    // Where the sandbox looks for PostgreSQL; tests move it to try the embedded server's path.
    DATABASE_URL: present.SANDBOX_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
    QUEUE_PREFIX: 'incident-bot-sandbox',
  };
}

/** Without a Slack token, and outside production, a first `npm start` may fall back to the sandbox. */
function mayBeSandbox(present: NodeJS.ProcessEnv): boolean {
  return (
    present.SLACK_BOT_TOKEN === undefined &&
    present.SLACK_APP_TOKEN === undefined &&
    present.NODE_ENV !== 'production'
  );
}

/**
 * The YAML file to read: INCIDENT_BOT_CONFIG, else config/incident-bot.yml; with neither (and no Slack
 * token), the sandbox's demo config, so that a first `npm start` needs no file at all.
 */
export function configPathOf(source: NodeJS.ProcessEnv): string {
  const present = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ''));
  const given = present.INCIDENT_BOT_CONFIG;
  if (given) return given;
  return mayBeSandbox(present) && !existsSync(DEFAULT_CONFIG_PATH)
    ? SANDBOX_CONFIG_PATH
    : DEFAULT_CONFIG_PATH;
}

/**
 * The sandbox runs only when nothing says this is a real deployment: no Slack token, no config of one's
 * own (the demo config is the one read), and NODE_ENV is not production. A deployment that lost its
 * token is refused instead, rather than run against its own database with a made-up Slack.
 */
function isSandbox(present: NodeJS.ProcessEnv): boolean {
  return mayBeSandbox(present) && resolve(configPathOf(present)) === SANDBOX_CONFIG_PATH;
}

/** Reads the env vars the bot uses; an empty string counts as unset. */
export function parseEnv(source: NodeJS.ProcessEnv): Env {
  const present = Object.fromEntries(Object.entries(source).filter(([, value]) => value !== ''));
  const sandbox = isSandbox(present);
  const input = sandbox
    ? { ...sandboxDefaults(present), ...present, SLACK_BOT_TOKEN: `xoxb-sandbox-${secret()}` }
    : present;
  const schema = present.SLACK_APP_TOKEN === undefined ? EnvSchema : SocketModeEnvSchema;
  const result = schema
    .superRefine(checkAlertmanagerAuth)
    .superRefine(checkDatabasePassword)
    .safeParse(input, requiredMessage);
  if (!result.success) throw new ConfigError('environment', formatZodIssues(result.error));
  return {
    ...withDatabasePassword(result.data),
    INCIDENT_BOT_CONFIG: configPathOf(present),
    sandbox,
    sandboxDatabase: sandbox && present.DATABASE_URL === undefined,
  };
}
