/** PostgreSQL text and jsonb hold neither NUL nor a lone UTF-16 surrogate: input holding one is refused. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed();
}

/** Why isStorableText refused something, to follow "The command text" or "This field". */
export const UNSTORABLE_TEXT = 'holds a NUL character or half of a surrogate pair, which cannot be stored';

/** 1 lock, 2 locks. */
export function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? '' : 's'}`;
}

/** 1st, 2nd, 3rd, 4th, 11th, 12th, 13th, 21st… */
export function ordinal(n: number): string {
  const tens = n % 100;
  const suffix = tens >= 11 && tens <= 13 ? 'th' : (['th', 'st', 'nd', 'rd'][n % 10] ?? 'th');
  return `${n}${suffix}`;
}

/** `text` cut to at most `max` UTF-16 units, ending in an ellipsis when cut, and never through a surrogate pair. */
export function truncate(text: string, max: number): string {
  if (text.length <= max) return text;
  const kept = text.slice(0, max - 1);
  return `${/[\ud800-\udbff]$/.test(kept) ? kept.slice(0, -1) : kept}…`;
}
