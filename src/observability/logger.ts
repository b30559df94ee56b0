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

// A field's name, and where its value starts. A string value is skipped whole (see redactSecretFields), so
// a string that looks like fields is never read as fields.
const FIELD = /"((?:[^"\\]|\\.)*)":/g;
const STRING_AT = /"(?:[^"\\]|\\.)*"/y;

/** Where the string, object or list starting at `from` ends: past its closing quote or bracket. */
function valueEnd(line: string, from: number): number {
  let depth = 0;
  for (let at = from; at < line.length; at++) {
    const char = line[at];
    if (char === '"') {
      STRING_AT.lastIndex = at;
      if (!STRING_AT.test(line)) return line.length;
      at = STRING_AT.lastIndex - 1;
    } else if (char === '{' || char === '[') depth++;
    else if (char === '}' || char === ']') depth--;
    if (depth === 0) return at + 1;
  }
  return line.length;
}

/**
 * Replaces the value of each credential-named field of a JSON line, a string or an object or list whole,
 * with "[REDACTED]". Numbers, booleans and null are kept: no credential is one, and a count or a flag
 * (passwordSet: false) tells an operator what happened.
 */
function redactSecretFields(line: string): string {
  let out = '';
  let kept = 0;
  FIELD.lastIndex = 0;
  for (let field = FIELD.exec(line); field; field = FIELD.exec(line)) {
    const start = FIELD.lastIndex;
    const first = line[start];
    const container = first === '{' || first === '[';
    if (first !== '"' && !container) continue;
    const secret = isSecretName(field[1]!);
    // Inside an object or list not redacted, its own fields are looked at in turn.
    if (container && !secret) continue;
    const end = valueEnd(line, start);
    if (secret) {
      out += `${line.slice(kept, start)}"[REDACTED]"`;
      kept = end;
    }
    FIELD.lastIndex = end;
  }
  return out + line.slice(kept);
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
