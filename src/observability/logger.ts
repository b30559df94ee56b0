import { LogLevel, type Logger as SlackLogger } from '@slack/logger';
import { pino } from 'pino';
import { currentLogContext } from './logContext.js';

export type Logger = pino.Logger;

// A field named with one of these, in any letter case and with or without separators (apiKey, API_KEY,
// x-api-key), holds a credential.
const SECRET_WORDS =
  /authorization|token|secret|signature|password|passwd|passphrase|cookie|credential|apikey|privatekey|accesskey|auth$/;
// Any other *key (routing_key, hmacKey, TLS options' `key`) too, but for the bot's own ids: an operator
// looks a line up by them, and hiding them would hide which incident, request or page it is about.
const ID_KEY = /(?:dedup|idempotency|request|group)keys?$/;

/** Whether a field of this name holds a credential, so that its value never reaches the log. */
function isSecretName(name: string): boolean {
  const word = name.toLowerCase().replace(/[^a-z0-9]/g, '');
  return SECRET_WORDS.test(word) || (/keys?$/.test(word) && !ID_KEY.test(word));
}

/**
 * Replaces the value of each credential-named field of a JSON line, a string or an object or list whole,
 * with "[REDACTED]", at any depth. Numbers, booleans and null are kept: no credential is one, and a count
 * or a flag (passwordSet: false) tells an operator what happened. The line is read as JSON, not scanned
 * as text: a scan loses its place in text that looks like fields (a list holding ":"), and can take time
 * in the square of a hostile run of quotes. A line with nothing to redact is written as it came.
 */
function redactSecretFields(line: string): string {
  let record: unknown;
  try {
    record = JSON.parse(line);
    if (!redactIn(record)) return line;
  } catch {
    // Not JSON (pino writes nothing else), or nested past the stack: nothing of it is written.
    return `${JSON.stringify({ msg: 'a log line that could not be scrubbed was left out' })}\n`;
  }
  return `${JSON.stringify(record)}\n`;
}

/** Redacts the credential-named fields of `value` in place; whether there was one. */
function redactIn(value: unknown): boolean {
  if (value === null || typeof value !== 'object') return false;
  let redacted = false;
  if (Array.isArray(value)) {
    for (const item of value) redacted = redactIn(item) || redacted;
    return redacted;
  }
  const record = value as Record<string, unknown>;
  for (const [name, field] of Object.entries(record)) {
    if (field !== null && (typeof field === 'string' || typeof field === 'object') && isSecretName(name)) {
      record[name] = '[REDACTED]';
      redacted = true;
    } else redacted = redactIn(field) || redacted;
  }
  return redacted;
}

/** Hides the password in postgres://user:secret@host and redis://:secret@host wherever it shows up. */
export function redactUrlPasswords(text: string): string {
  // A scheme is matched from the start of its run of scheme characters only (not from each word in it, as
  // with \b, which took time in the square of a run like a.a.a…).
  return text.replace(/((?<![a-z0-9+.-])[a-z][a-z0-9+.-]*:\/\/[^:/@\s"]*:)[^\s/"]*@/gi, '$1[REDACTED]@');
}

/**
 * Scrubs each JSON log line before it is written: secret-named keys, bearer credentials, URL passwords,
 * and the process's own secrets wherever they appear (inside an error message, say), in each of the forms
 * `secretForms` gives.
 */
function scrubLogLine(text: string, forms: readonly string[]): string {
  let out = redactSecretFields(redactUrlPasswords(text)).replace(
    /\b(Bearer|Basic)\s+[\w.~+/=-]+/g,
    '$1 [REDACTED]',
  );
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
