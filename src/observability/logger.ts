import { LogLevel, type Logger as SlackLogger } from '@slack/logger';
import { pino } from 'pino';

export type Logger = pino.Logger;

/** Paths whose values never reach the log, wherever they appear in a logged object. */
const REDACT = [
  'token',
  '*.token',
  'authorization',
  '*.authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers["x-slack-signature"]',
  'signingSecret',
  '*.signingSecret',
  'env.SLACK_BOT_TOKEN',
  'env.SLACK_SIGNING_SECRET',
  'env.SLACK_APP_TOKEN',
  'env.ALERTMANAGER_TOKEN',
  'env.DATABASE_URL',
  'env.REDIS_URL',
];

/** Hides the password in postgres://user:secret@host and redis://:secret@host wherever it shows up. */
export function redactUrlPasswords(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s]*:)[^@\s]+@/gi, '$1[REDACTED]@');
}

export function createLogger(
  level: string,
  secrets: string[] = [],
  destination?: pino.DestinationStream,
): Logger {
  const known = secrets.filter((s) => s.length >= 8);
  const scrub = (text: string) => {
    let out = redactUrlPasswords(text);
    for (const secret of known) out = out.split(secret).join('[REDACTED]');
    return out;
  };
  return pino(
    {
      level,
      redact: { paths: REDACT, censor: '[REDACTED]' },
      hooks: {
        // Last line of defence: a secret quoted inside an error message or a free-text field.
        streamWrite: scrub,
      },
    },
    destination,
  );
}

/** Bolt logs through @slack/logger's interface; this sends it to our pino logger. */
export function boltLogger(logger: Logger): SlackLogger {
  const child = logger.child({ component: 'bolt' });
  let level = LogLevel.INFO;
  const join = (msg: unknown[]) => msg.map((m) => (typeof m === 'string' ? m : JSON.stringify(m))).join(' ');
  return {
    debug: (...msg) => child.debug(join(msg)),
    info: (...msg) => child.info(join(msg)),
    warn: (...msg) => child.warn(join(msg)),
    error: (...msg) => child.error(join(msg)),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
