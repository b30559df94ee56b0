/**
 * A silence matcher's operator as Alertmanager's matcher syntax writes it: `=`, `!=`, `=~` or `!~`. A
 * matcher without flags (the bot's own) is an equality.
 */
export function matcherOperator(matcher: { isRegex?: unknown; isEqual?: unknown }): string {
  const negative = matcher.isEqual === false;
  if (matcher.isRegex === true) return negative ? '!~' : '=~';
  return negative ? '!=' : '=';
}
