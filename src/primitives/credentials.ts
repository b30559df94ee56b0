// An authorization header's credentials quoted in a text (a proxy's refusal, an error, a log line), whole
// or cut short, also JSON-escaped ("/" written "\/"). Only a backslash before a "/": one before a quote
// or a letter ends an escape of the text around it (a log line's JSON), which is not the credentials'.
const QUOTED_CREDENTIALS = /\b(Bearer|Basic)[ \t]+(?:[\w.~+/=-]|\\+\/)+/g;

/** The text with the credentials of any authorization header it quotes replaced by `mark`. */
export function withoutQuotedCredentials(text: string, mark: string): string {
  return text.replace(QUOTED_CREDENTIALS, `$1 ${mark}`);
}
