import { LogLevel, type Logger as SlackLogger } from '@slack/logger';
import { pino } from 'pino';
import { secretForms, withoutQuotedCredentials } from '../primitives/credentials.js';
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
 * Past the end of the JSON string at `from` (its first quote); -1 if it does not end. Found by looking for
 * each next quote, not by a pattern: a pattern's stack runs out on a string of a few million characters
 * (a large body logged), and the logger would throw.
 */
function stringEnd(line: string, from: number): number {
  for (let at = from + 1; ; ) {
    const quote = line.indexOf('"', at);
    if (quote < 0) return -1;
    // Escaped when an odd number of backslashes comes before it.
    let backslashes = 0;
    while (line[quote - 1 - backslashes] === '\\') backslashes++;
    if (backslashes % 2 === 0) return quote + 1;
    at = quote + 1;
  }
}

/** Past the end of the string, object or list at `from`: strings skipped whole, brackets counted. */
function valueEnd(line: string, from: number): number {
  let depth = 0;
  for (let at = from; at < line.length; at++) {
    const char = line[at];
    if (char === '"') {
      const end = stringEnd(line, at);
      if (end < 0) return -1;
      at = end - 1;
    } else if (char === '{' || char === '[') depth++;
    else if (char === '}' || char === ']') depth--;
    if (depth === 0) return at + 1;
  }
  return -1;
}

/**
 * Replaces the value of each credential-named field of a JSON line, a string or an object or list whole,
 * with "[REDACTED]", at any depth. Numbers, booleans and null are kept: no credential is one, and a count
 * or a flag (passwordSet: false) tells an operator what happened. Read token by token, once, without
 * recursion: a string value is skipped whole wherever it is (so text that looks like fields, as a list
 * holding ":", is never read as fields), a field pino writes twice (a child's binding and the call's) is
 * redacted each time, and every field is kept, as is any depth. A line that is not JSON (pino writes
 * nothing else) is left out rather than written unscrubbed.
 */
function redactSecretFields(line: string): string {
  let out = '';
  let kept = 0;
  // For each open container, whether it is an object, where a string before ':' names a field.
  const objects: boolean[] = [];
  let nameNext = false;
  for (let at = 0; at < line.length; ) {
    const char = line[at];
    if (char !== '"') {
      if (char === '{' || char === '[') objects.push(char === '{');
      else if (char === '}' || char === ']') objects.pop();
      nameNext = (char === '{' || char === ',') && objects.at(-1) === true;
      at++;
      continue;
    }
    const end = stringEnd(line, at);
    if (end < 0) return UNSCRUBBABLE;
    if (!nameNext) {
      at = end;
      continue;
    }
    nameNext = false;
    // The value follows the name's ':' (pino writes no space).
    if (line[end] !== ':') return UNSCRUBBABLE;
    const value = end + 1;
    const first = line[value];
    if ((first === '"' || first === '{' || first === '[') && isSecretName(fieldName(line, at, end))) {
      const valueStop = valueEnd(line, value);
      if (valueStop < 0) return UNSCRUBBABLE;
      out += `${line.slice(kept, value)}"[REDACTED]"`;
      kept = valueStop;
      at = valueStop;
    } else at = value;
  }
  return out + line.slice(kept);
}

/** The name of the string at `from`…`end`, its escapes (\u0074oken is token) read. */
const fieldName = (line: string, from: number, end: number): string => {
  const raw = line.slice(from + 1, end - 1);
  return raw.includes('\\') ? (JSON.parse(line.slice(from, end)) as string) : raw;
};

const UNSCRUBBABLE = `${JSON.stringify({ msg: 'a log line that could not be scrubbed was left out' })}\n`;

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
  let out = redactSecretFields(redactUrlPasswords(text));
  // A line is written per request: most hold no secret, and a look costs less than a split and join.
  // The bot's own secrets first: one holding a character a header's pattern stops at is then hidden whole.
  for (const form of forms) if (out.includes(form)) out = out.split(form).join('[REDACTED]');
  return withoutQuotedCredentials(out, '[REDACTED]');
}

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
  // An error goes to pino's serializer, message, stack and all: as JSON an Error is `{}` (Bolt's own
  // wrapping a listener's error was written as {"code":"slack_bolt_unknown_error","original":{}}).
  const write =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (...msg: unknown[]) => {
      const err = msg.find((m) => m instanceof Error);
      const text = msg
        .filter((m) => m !== err)
        .map((m) => (typeof m === 'string' ? m : m instanceof Error ? String(m) : JSON.stringify(m)))
        .join(' ');
      if (err) child[method]({ err }, text || err.message);
      else child[method](text);
    };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    setLevel: (l) => {
      level = l;
    },
    getLevel: () => level,
    setName: () => {},
  };
}
