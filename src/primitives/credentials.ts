// An authorization header's credentials quoted in a text (a proxy's refusal, an error, a log line), whole
// or cut short, and JSON-escaped ("/" written "\/").
const QUOTED_CREDENTIALS = /\b(Bearer|Basic)\s+[\w.~+/=\\-]+/g;

/** The text with the credentials of any authorization header it quotes replaced by `mark`. */
export function withoutQuotedCredentials(text: string, mark: string): string {
  return text.replace(QUOTED_CREDENTIALS, `$1 ${mark}`);
}
