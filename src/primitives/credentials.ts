// Where an authorization header is quoted in a text (a proxy's refusal, an error, a log line): its scheme,
// at a word's start or after an escape of a JSON line ("\n", "\f", "\u000b"), before a space or a tab, a
// tab perhaps escaped too.
const SCHEME = /(?:\b|(?<=\\[nrtbf]|\\u[0-9a-fA-F]{4}))(Bearer|Basic)(?=[ \t]|\\t)/g;
// A token's characters, [\w.~+/=-], by char code.
const TOKEN_CHARS = new Uint8Array(128);
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.~+/=-')
  TOKEN_CHARS[c.charCodeAt(0)] = 1;

/**
 * The text with the credentials of any authorization header it quotes replaced by `mark`: whole or cut
 * short, JSON-escaped ("/" written "\/"), and through a `mark` already in them (a secret of the bot's the
 * logger hid first). A backslash before anything but "/" ends them: it escapes the text around them (a
 * quote of a log line's JSON). Scanned, not matched: a pattern repeated once a character overflows the
 * stack on a token, or a run of spaces, of millions of them.
 */
export function withoutQuotedCredentials(text: string, mark: string): string {
  let out = '';
  let kept = 0;
  for (const found of text.matchAll(SCHEME)) {
    let start = found.index + found[0].length;
    for (;;) {
      if (text[start] === ' ' || text[start] === '\t') start++;
      else if (text.startsWith('\\t', start)) start += 2;
      else break;
    }
    // A scheme inside credentials already hidden: only what follows them is left to look at.
    if (start <= kept) continue;
    let end = start;
    for (;;) {
      if (TOKEN_CHARS[text.charCodeAt(end)] === 1) end++;
      else if (mark !== '' && text.startsWith(mark, end)) end += mark.length;
      else if (text[end] === '\\') {
        let slashes = end;
        while (text[slashes] === '\\') slashes++;
        if (text[slashes] !== '/') break;
        end = slashes + 1;
      } else break;
    }
    if (end === start) continue;
    out +=
      found.index >= kept
        ? `${text.slice(kept, found.index)}${found[1]} ${mark}`
        : `${text.slice(kept, start)}${mark}`;
    kept = end;
  }
  return kept === 0 ? text : out + text.slice(kept);
}

/**
 * Each secret as it may be quoted back: as it is, JSON-escaped (one holding " or \ appears so in a JSON
 * line, a "/" perhaps as "\/") and URL-encoded; longest first, so that a secret that holds another is
 * hidden whole before the shorter one could hide only its part.
 */
export function secretForms(secrets: readonly string[]): string[] {
  const forms = secrets.flatMap((secret) => {
    const escaped = JSON.stringify(secret).slice(1, -1);
    return [secret, escaped, escaped.replaceAll('/', '\\/'), encodeURIComponent(secret)];
  });
  return [...new Set(forms)].filter((form) => form !== '').sort((a, b) => b.length - a.length);
}
