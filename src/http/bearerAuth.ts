import { createHash, timingSafeEqual } from 'node:crypto';

const digest = (value: string) => createHash('sha256').update(value).digest();

/**
 * Checks `Authorization: Bearer <token>` in constant time. Both sides are hashed first so that the
 * comparison takes the same time whatever the length of the token offered.
 */
export function bearerTokenMatches(header: string | undefined, expected: string): boolean {
  const offered = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '')?.[1] ?? '';
  const equal = timingSafeEqual(digest(offered), digest(expected));
  return equal && offered.length > 0;
}
