/** What every check kind shares: the record of a run in progress, and how its findings become text. */

import { secretForms, withoutQuotedCredentials } from '../primitives/credentials.js';
import { truncate } from '../primitives/text.js';

/** A target's state that makes the check fail; its message is the detail. */
export class CheckFailure extends Error {}

/**
 * What a running check has found so far. Kept outside the check's own promise so that a check cut off
 * by its timeout still reports the facts it gathered before.
 */
export class CheckRun {
  readonly facts: Array<{ label: string; value: string }> = [];
  readonly problems: Array<{ status: 'warn' | 'fail'; text: string }> = [];
  readonly secrets: string[] = [];
  /** Where the result can be seen in more depth (a graph), when the check knows one. */
  link: { url: string; text: string } | undefined;

  constructor(
    private readonly env: Record<string, string | undefined>,
    readonly signal: AbortSignal,
  ) {}

  fact(label: string, value: string): void {
    this.facts.push({ label, value });
  }

  warn(text: string): void {
    this.problems.push({ status: 'warn', text });
  }

  fail(text: string): void {
    this.problems.push({ status: 'fail', text });
  }

  /** A connection string from the env, whose password is then kept out of every detail and fact. */
  connectionString(name: string): string {
    const value = this.envVar(name);
    this.secrets.push(...passwordsIn(value));
    return value;
  }

  /** A secret from the env (a token, a password), then kept out of every detail and fact. */
  secret(name: string): string {
    const value = this.envVar(name);
    // Very short secrets would blank out ordinary words.
    if (value.length >= 4) this.secrets.push(value);
    return value;
  }

  private envVar(name: string): string {
    const value = this.env[name];
    if (!value) throw new CheckFailure(`env var ${name} is not set`);
    return value;
  }

  /** Runs `close` if the check is cut off; call the returned function once the check is done. */
  onAbort(close: () => void): () => void {
    this.signal.addEventListener('abort', close, { once: true });
    return () => this.signal.removeEventListener('abort', close);
  }
}

/** The password of a connection string, raw and decoded, for literal redaction wherever it turns up. */
function passwordsIn(connectionString: string): string[] {
  const found: string[] = [];
  try {
    const url = new URL(connectionString);
    if (url.password) found.push(url.password, decodeURIComponent(url.password));
    const param = url.searchParams.get('password');
    if (param) found.push(param);
  } catch {
    // Not a URL (a libpq key=value string): the pattern-based redaction still covers `password=`.
  }
  // Very short passwords would blank out ordinary words; the URL patterns below still catch them in place.
  return found.filter((p) => p.length >= 4);
}

const URL_CREDENTIALS = /([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*):[^\s/]*@/gi;
const PASSWORD_PARAM = /(\bpassword=)[^\s&]+/gi;

export function redact(text: string, secrets: readonly string[]): string {
  let out = text.replace(URL_CREDENTIALS, '$1:[REDACTED]@').replace(PASSWORD_PARAM, '$1[REDACTED]');
  for (const secret of secrets) out = out.replaceAll(secret, '[REDACTED]');
  return withoutQuotedCredentials(out, '[REDACTED]');
}

export function describeError(err: unknown): string {
  if (err instanceof AggregateError && err.errors.length > 0) {
    // Node tries every address of a host name; each failure is worth a word.
    return [...new Set(err.errors.map(describeError))].join('; ');
  }
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return err.message || (typeof code === 'string' ? code : err.name);
  }
  return String(err);
}

/**
 * A value as JSON, short. `secrets` are hidden before it is cut, as JSON writes them: a part of one left
 * by the cut would not be found afterwards.
 */
export function show(value: unknown, secrets: readonly string[] = []): string {
  return truncate(redact(JSON.stringify(value) ?? String(value), secretForms(secrets)), 60);
}

export function oneLine(text: string): string {
  return text.replace(/\s*[\r\n]+\s*/g, ' ').trim();
}

export function percent(fraction: number): string {
  return `${Number((fraction * 100).toFixed(2))}%`;
}
