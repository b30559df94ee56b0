/**
 * The rows a sweep reads, oldest first, a page at a time until none is left: `read(after, limit)` answers
 * at most `limit` rows whose key is past `after`, in the key's order. A page of rows that stay (waiting,
 * stuck) then never hides the rows after it, as a single LIMIT did.
 */
export async function* keysetPages<T>(
  read: (after: number, limit: number) => Promise<T[]>,
  keyOf: (row: T) => number,
  limit = 500,
): AsyncGenerator<T> {
  for (let after = 0; ; ) {
    const rows = await read(after, limit);
    yield* rows;
    if (rows.length < limit) return;
    after = keyOf(rows.at(-1)!);
  }
}
