import { withoutQuotedCredentials } from '../../primitives/credentials.js';
import { TRUNCATION_MARK } from './driver.js';

/**
 * What a driver prints is stored and shown in Slack. Before either, passwords in connection strings and
 * URLs, and the values of the secrets it is given, are replaced by [redacted].
 */

export const REDACTED = '[redacted]';
/** Shorter values are left in place: hiding `1` or `prod` would blank ordinary words. */
export const MIN_SECRET_LENGTH = 8;
// A piece of a secret left by a cut: fewer characters than this tell little and match too much.
const MIN_CUT_LENGTH = 4;

// scheme://user:password@ (the user may be empty: redis://:password@). A password holding a raw @ is
// hidden up to its last @: too much rather than a part.
const URL_PASSWORD = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"'<>]*:)[^\s/"'<>]+@/gi;
// user:password@host where a word starts, without a scheme; not an image's name:tag@sha256:digest.
const BARE_PASSWORD = /((?:^|[\s"'=(<,;])[A-Za-z0-9_][\w.%+-]*:)[^\s/"'<>@]+@(?=[A-Za-z0-9[])(?!sha\d+:)/gm;
// password=… of a key=value connection string or a query, PGPASSWORD=… of an env listing.
const PASSWORD_PARAM =
  /(\b\w*pass(?:word|wd)[ \t]*=[ \t]*)('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s&;'"]+)/gi;
// The end of a text cut inside a URL's password, and the start of one cut before the @.
const URL_PASSWORD_CUT = /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@"'<>]*:)[^\s/"'<>@]+$/i;
const PASSWORD_END_CUT = /^[^\s/"'<>@]+@/;
const CUT = new RegExp(`(${TRUNCATION_MARK.source})`);

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text; // a bare % is not an escape: it is as written
  }
}

/** A secret as it may show up: itself, URL-encoded, JSON-escaped, and the password inside a connection string. */
function formsOf(secret: string): string[] {
  const forms = [secret, encodeURIComponent(secret), JSON.stringify(secret).slice(1, -1)];
  try {
    const { password } = new URL(secret);
    if (password) forms.push(password, decoded(password));
  } catch {
    // not a URL: a key=value connection string's password= is read below
  }
  for (const [, , value] of secret.matchAll(PASSWORD_PARAM))
    forms.push(value!, value!.replace(/^(['"])(.*)\1$/s, '$2'));
  return forms;
}

/** Longest first, so that a secret holding a shorter one is hidden whole. */
function literalsOf(secrets: readonly string[]): string[] {
  const forms = secrets.flatMap(formsOf).filter((form) => form.length >= MIN_SECRET_LENGTH);
  return [...new Set(forms)].sort((a, b) => b.length - a.length);
}

function hide(text: string, literals: readonly string[]): string {
  let out = text;
  for (const literal of literals) out = out.replaceAll(literal, REDACTED);
  return withoutQuotedCredentials(out, REDACTED)
    .replace(URL_PASSWORD, `$1${REDACTED}@`)
    .replace(BARE_PASSWORD, `$1${REDACTED}@`)
    .replace(PASSWORD_PARAM, `$1${REDACTED}`);
}

/** How many of the last characters of text are the first ones of a literal (0 when too few to matter). */
function cutStartOf(text: string, literals: readonly string[]): number {
  let longest = 0;
  for (const literal of literals) {
    const window = text.slice(-(literal.length - 1));
    for (let i = 0; window.length - i > Math.max(longest, MIN_CUT_LENGTH - 1); i++) {
      if (literal.startsWith(window.slice(i))) {
        longest = window.length - i;
        break;
      }
    }
  }
  return longest;
}

/** How many of the first characters of text are the last ones of a literal (0 when too few to matter). */
function cutEndOf(text: string, literals: readonly string[]): number {
  let longest = 0;
  for (const literal of literals) {
    const window = text.slice(0, literal.length - 1);
    for (let k = window.length; k > Math.max(longest, MIN_CUT_LENGTH - 1); k--) {
      if (literal.endsWith(window.slice(0, k))) {
        longest = k;
        break;
      }
    }
  }
  return longest;
}

/** Text that ends where something was cut off: a secret or URL password begun there is hidden too. */
function hideBeforeCut(text: string, literals: readonly string[]): string {
  const cut = cutStartOf(text, literals);
  const out = cut > 0 ? `${text.slice(0, -cut)}${REDACTED}` : text;
  return out.replace(URL_PASSWORD_CUT, `$1${REDACTED}`);
}

/** Text that starts where something was cut off: the rest of a secret or of a URL password is hidden too. */
function hideAfterCut(text: string, literals: readonly string[]): string {
  const cut = cutEndOf(text, literals);
  const out = cut > 0 ? `${REDACTED}${text.slice(cut)}` : text;
  return out.replace(PASSWORD_END_CUT, `${REDACTED}@`);
}

/**
 * Hides passwords in URLs and connection strings, and every secret given (of MIN_SECRET_LENGTH or more)
 * wherever it occurs. Where CappedOutput dropped the middle, or lastLine shortened a line ("…"), the part
 * of a secret left on either side of the cut is hidden too.
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  const literals = literalsOf(secrets);
  const parts = text.split(CUT);
  return parts
    .map((part, i) => {
      if (i % 2 === 1) return part; // the truncation mark
      let out = hide(part, literals);
      if (i > 0) out = hideAfterCut(out, literals);
      if (i < parts.length - 1) out = hideBeforeCut(out, literals);
      else if (out.endsWith('…')) out = `${hideBeforeCut(out.slice(0, -1), literals)}…`;
      return out;
    })
    .join('');
}
