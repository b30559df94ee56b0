import { describe, expect, it } from 'vitest';
import { bearerTokenMatches } from '../../src/http/bearerAuth.js';

const TOKEN = 'am-token-0123456789abcdef';

describe('bearerTokenMatches', () => {
  describe('accepts the expected token', () => {
    it.each([
      `Bearer ${TOKEN}`,
      `bearer ${TOKEN}`,
      `BEARER ${TOKEN}`,
      `Bearer   ${TOKEN}`,
      `Bearer\t${TOKEN}`,
      `Bearer ${TOKEN}  `,
    ])('in %j', (header) => {
      expect(bearerTokenMatches(header, TOKEN)).toBe(true);
    });
  });

  describe('refuses', () => {
    it.each([
      ['a missing header', undefined],
      ['an empty header', ''],
      ['the scheme alone', 'Bearer'],
      ['the scheme and a space', 'Bearer '],
      ['the bare token without the scheme', TOKEN],
      ['another scheme', `Basic ${TOKEN}`],
      ['a token with no space after the scheme', `Bearer${TOKEN}`],
      ['a leading space', ` Bearer ${TOKEN}`],
      ['a wrong token', 'Bearer am-token-wrong-wrong-wrong'],
      ['a prefix of the token', `Bearer ${TOKEN.slice(0, -1)}`],
      ['the token with an extra character', `Bearer ${TOKEN}x`],
      ['the token in another case', `Bearer ${TOKEN.toUpperCase()}`],
      ['two tokens', `Bearer ${TOKEN} ${TOKEN}`],
      ['the token followed by more text', `Bearer ${TOKEN} extra`],
    ])('%s', (_, header) => {
      expect(bearerTokenMatches(header, TOKEN)).toBe(false);
    });
  });

  it('never matches when the expected token is empty, even against an empty offer', () => {
    expect(bearerTokenMatches('Bearer ', '')).toBe(false);
    expect(bearerTokenMatches('', '')).toBe(false);
    expect(bearerTokenMatches(undefined, '')).toBe(false);
  });

  it('compares tokens of any length without throwing', () => {
    // timingSafeEqual throws on buffers of different lengths; hashing first avoids that.
    expect(bearerTokenMatches(`Bearer ${'x'.repeat(10_000)}`, TOKEN)).toBe(false);
    expect(bearerTokenMatches('Bearer x', TOKEN)).toBe(false);
  });
});
