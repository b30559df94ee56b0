import { LogLevel, type Logger as SlackLogger } from '@slack/logger';
import { pino } from 'pino';
import { currentLogContext } from './logContext.js';

export type Logger = pino.Logger;

// Keys whose values never reach the log, at any depth and in any letter case.
const SECRET_KEYS =
  /"([\w-]*(?:authorization|token|secret|signature|password|cookie)[\w-]*)":"(?:[^"\\]|\\.)*"/gi;

/** Hides the password in postgres://user:secret@host and redis://:secret@host wherever it shows up. */
export function redactUrlPasswords(text: string): string {
  return text.replace(/(\b[a-z][a-z0-9+.-]*:\/\/[^:/@\s"]*:)[^\s/"]*@/gi, '$1[REDACTED]@');
}

/**
 * Scrubs each JSON log line before it is written: secret-named keys, bearer credentials, URL passwords,
 * and the process's own secrets wherever they appear (inside an error message, say), in each of the forms
 * `secretForms` gives.
 */
function scrubLogLine(text: string, forms: readonly string[]): string {
  let out = redactUrlPasswords(text)
    .replace(SECRET_KEYS, '"$1":"[REDACTED]"')
    .replace(/\b(Bearer|Basic)\s+[\w.~+/=-]+/g, '$1 [REDACTED]');
  // A line is written per request: most hold no secret, and a look costs less than a split and join.
  for (const form of forms) if (out.includes(form)) out = out.split(form).join('[REDACTED]');
  return out;
}

/**
 * Each secret as it is and as written into a JSON line (one holding " or \ appears there escaped), longest
 * first: a secret that holds another is hidden whole before the shorter one could hide only its part.
 */
const secretForms = (secrets: readonly string[]) =>
  [...new Set(secrets.flatMap((secret) => [secret, JSON.stringify(secret).slice(1, -1)]))].sort(
    (a, b) => b.length - a.length,
  );

export function createLogger(
  level: string,
  secrets: string[] = [],
  destination?: pino.DestinationStream,
): Logger {
  const known = secretForms(secrets.filter((s) => s.length >= 8));
  return pino(
    {
      level,
      // The request, incident and job ids of the context the line is written in.
      mixin: currentLogContext,
      hooks: { streamWrite: (line) => scrubLogLine(line, known) },
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
