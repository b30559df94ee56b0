/** PostgreSQL text and jsonb hold neither NUL nor a lone UTF-16 surrogate: input holding one is refused. */
export function isStorableText(text: string): boolean {
  return !text.includes('\u0000') && text.isWellFormed();
}

/** Why isStorableText refused something, to follow "The command text" or "This field". */
export const UNSTORABLE_TEXT = 'holds a NUL character or half of a surrogate pair, which cannot be stored';
