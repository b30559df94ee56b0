import { describe, expect, it } from 'vitest';
import {
  escapeMrkdwn,
  mentionedUsers,
  plainFromMrkdwn,
  quoted,
  slackDate,
  truncateForMrkdwn,
  typedMrkdwn,
  userMention,
} from '../../src/render/mrkdwn.js';

/** A small seeded PRNG (mulberry32), so the property tests are random yet reproducible. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// Characters that escaping lengthens, plain ASCII, Slack syntax that must stay as is, and astral
// characters (two UTF-16 units each).
const ALPHABET = ['&', '<', '>', 'a', 'Z', ' ', '*', '_', '|', '"', 'é', '…', '😀', '🔥'];

function randomText(next: () => number, maxChars: number): string {
  const length = Math.floor(next() * (maxChars + 1));
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[Math.floor(next() * ALPHABET.length)];
  return out;
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

describe('escapeMrkdwn', () => {
  it('escapes &, < and >', () => {
    expect(escapeMrkdwn('a & b <c> d')).toBe('a &amp; b &lt;c&gt; d');
  });

  it('defuses mentions and forged links', () => {
    expect(escapeMrkdwn('<!channel> <https://evil.example|click> <@U123>')).toBe(
      '&lt;!channel&gt; &lt;https://evil.example|click&gt; &lt;@U123&gt;',
    );
  });

  it('leaves every other character alone, including quotes and Slack formatting', () => {
    const text = `"quoted" 'single' = *bold* _it_ ~strike~ \`code\` | é 😀 \n\t\\`;
    expect(escapeMrkdwn(text)).toBe(text);
  });

  it('escapes the & of an existing entity again, so the reader sees the text as written', () => {
    expect(escapeMrkdwn('&amp; &lt;')).toBe('&amp;amp; &amp;lt;');
  });

  it('returns an empty string for an empty string', () => {
    expect(escapeMrkdwn('')).toBe('');
  });
});

describe('typedMrkdwn', () => {
  it("keeps a person's mentions, channel links and links live, without a label of their own", () => {
    expect(
      typedMrkdwn(
        '<@U0BOB|bob> <@W0GRID> in <#C0PAY|payments> <#G0OLD>: <https://g.example/d?a=1&b=2|the <graph>',
      ),
    ).toBe('<@U0BOB> <@W0GRID> in <#C0PAY> <#G0OLD>: &lt;https://g.example/d?a=1&amp;b=2|the &lt;graph&gt;');
    expect(typedMrkdwn('<https://g.example/d?a=1&b=2|a & b> <mailto:sre@example.com>')).toBe(
      '<https://g.example/d?a=1&amp;b=2> <mailto:sre@example.com>',
    );
  });

  it('shows where a link leads, never a label that could pass it off as another', () => {
    // Typed as characters: Slack sends them escaped, commandText unescapes them, and a form's field is
    // never escaped, so the stored text cannot tell them from a link Slack made.
    expect(typedMrkdwn('<https://evil.example/login|https://sso.corp.example> please re-auth')).toBe(
      '<https://evil.example/login> please re-auth',
    );
    expect(typedMrkdwn('ask <@U0CEO|the on-call lead>')).toBe('ask <@U0CEO>');
    // Nor an address that a hidden character reorders or hides: the characters are left out.
    expect(typedMrkdwn('<https://evil.example/\u202emoc.elgoog\u200b>')).toBe(
      '<https://evil.example/moc.elgoog>',
    );
  });

  it('shows a special mention as its name, pinging nobody', () => {
    expect(
      typedMrkdwn(
        '<!here> <!channel|channel> <!everyone> <!subteam^S0ONCALL|@oncall> <!subteam^S0X> <!date^1700000000^{date}|Nov 14>',
      ),
    ).toBe('@here channel @everyone @oncall @subteam Nov 14');
  });

  it('escapes everything else: other links, broken or nested markup, ids of other kinds', () => {
    for (const text of [
      '<javascript:alert(1)|click>',
      '<@U0BOB',
      '<@S0GROUP>',
      '<#D0DIRECT>',
      '<@u0bob>',
      '<https://a.example|<b>>',
      'a < b & c > d',
      '<https://a.example/x y|z>',
    ])
      expect(typedMrkdwn(text), text).toBe(escapeMrkdwn(text));
    expect(typedMrkdwn('<@U0BOB|<!channel>>')).toBe('&lt;@U0BOB|@channel&gt;');
  });

  it('is never longer than escaping, so the limits measured escaped still hold', () => {
    const next = random(7);
    const parts = [
      '<@U0BOB|bob>',
      '<!here>',
      '<https://a.example|x&y>',
      // Before: each hidden character in a link became an escape eight long.
      '<https://a.example/\u200b\u202e\u200b>',
      '<#C0PAY>',
      '&',
      '<',
      '>',
      'a',
      '|',
    ];
    for (let i = 0; i < 2000; i++) {
      const text = Array.from(
        { length: Math.floor(next() * 12) },
        () => parts[Math.floor(next() * parts.length)],
      ).join('');
      expect(typedMrkdwn(text).length, text).toBeLessThanOrEqual(escapeMrkdwn(text).length);
    }
  });
});

describe('plainFromMrkdwn', () => {
  const names = (id: string) => ({ U0BOB: 'Bob Ops' })[id] ?? id;

  it('shows a date in UTC, people by name, links and special mentions by label, entities as characters', () => {
    const mrkdwn = `until ${slackDate(new Date('2026-12-07T14:05:09Z'))} by ${userMention('U0BOB')} and <@W0GRID>: <https://ex.com/?a=1&amp;b=2|the graph> <#C0PAY> <!here> <!subteam^S0ONCALL> ${quoted('<!channel> & co')}`;
    expect(mentionedUsers(mrkdwn)).toEqual(['U0BOB', 'W0GRID']);
    expect(plainFromMrkdwn(mrkdwn, names)).toBe(
      'until 2026-12-07 14:05 UTC by Bob Ops and W0GRID: the graph #C0PAY @here @subteam "<!channel> & co"',
    );
  });

  it('leaves text without markup as it is', () => {
    expect(plainFromMrkdwn('a `code` *b* _c_ | d', names)).toBe('a `code` *b* _c_ | d');
  });
});

describe('truncateForMrkdwn', () => {
  describe('when the text fits', () => {
    it('returns it unchanged, without an ellipsis', () => {
      expect(truncateForMrkdwn('hello', 5)).toBe('hello');
      expect(truncateForMrkdwn('hello', 100)).toBe('hello');
      expect(truncateForMrkdwn('', 0)).toBe('');
    });

    it('measures the escaped length, so entities count in full', () => {
      // 'a&b' escapes to 'a&amp;b': 7 characters.
      expect(truncateForMrkdwn('a&b', 7)).toBe('a&b');
      expect(truncateForMrkdwn('<>', 8)).toBe('<>');
    });
  });

  describe('when the text is cut', () => {
    it('ends with … and stays within max once escaped', () => {
      expect(truncateForMrkdwn('abcdef', 5)).toBe('abcd…');
      expect(truncateForMrkdwn('abcdef', 3)).toBe('ab…');
      expect(truncateForMrkdwn('abcdef', 1)).toBe('…');
    });

    it('cuts by escaped length', () => {
      // 'a&b' is 7 once escaped; at 6, 'a&' (6) leaves no room for …, so only 'a' stays.
      expect(truncateForMrkdwn('a&b', 6)).toBe('a…');
      expect(truncateForMrkdwn('&&&', 11)).toBe('&&…');
      expect(truncateForMrkdwn('&&&', 10)).toBe('&…');
      expect(truncateForMrkdwn('<<<<', 12)).toBe('<<…');
    });

    it('drops a whole character rather than part of an entity', () => {
      // Escaped, '&&' is '&amp;&amp;'; an escaped-text cut at 7 would leave '&amp;&a'.
      const cut = truncateForMrkdwn('&&', 7);
      expect(cut).toBe('&…');
      expect(escapeMrkdwn(cut)).toBe('&amp;…');
    });

    it('never splits a surrogate pair', () => {
      expect(truncateForMrkdwn('😀😀😀', 4)).toBe('😀…');
      expect(truncateForMrkdwn('😀😀😀', 3)).toBe('😀…');
      expect(truncateForMrkdwn('😀😀😀', 2)).toBe('…');
    });
  });

  describe('for many random strings (property)', () => {
    const next = random(20_260_101);
    const cases = Array.from({ length: 3000 }, () => ({
      text: randomText(next, 40),
      max: 1 + Math.floor(next() * 60),
    }));

    it('never exceeds max once escaped', () => {
      for (const { text, max } of cases) {
        const escapedLength = escapeMrkdwn(truncateForMrkdwn(text, max)).length;
        if (escapedLength > max) expect.fail(`${JSON.stringify(text)} at ${max}: ${escapedLength}`);
      }
    });

    it('returns the text unchanged exactly when it fits, and a prefix plus … otherwise', () => {
      for (const { text, max } of cases) {
        const cut = truncateForMrkdwn(text, max);
        if (escapeMrkdwn(text).length <= max) {
          expect(cut).toBe(text);
        } else {
          expect(cut.endsWith('…')).toBe(true);
          expect(text.startsWith(cut.slice(0, -1))).toBe(true);
          expect(cut.length).toBeLessThanOrEqual(text.length);
        }
      }
    });

    it('keeps as much as fits: one more character would break the bound', () => {
      for (const { text, max } of cases) {
        const cut = truncateForMrkdwn(text, max);
        if (cut === text) continue;
        const kept = [...cut.slice(0, -1)].length;
        const longer = [...text].slice(0, kept + 1).join('');
        expect(escapeMrkdwn(longer).length + 1).toBeGreaterThan(max);
      }
    });

    it('never leaves a lone surrogate', () => {
      for (const { text, max } of cases) {
        expect(LONE_SURROGATE.test(truncateForMrkdwn(text, max))).toBe(false);
      }
    });
  });
});

describe('quoted', () => {
  it('shows a value on one line, escaped: no mention, no line of its own, nothing hidden', () => {
    expect(quoted('4\n⚠️ <!channel> restart: approved')).toBe('"4\\n⚠️ &lt;!channel&gt; restart: approved"');
    expect(quoted('a\tb\r\u200bc\u202ed`e')).toBe('"a\\tb\\r\\u{200b}c\\u{202e}d\\u{60}e"');
    expect(quoted('payments-api é 😀')).toBe('"payments-api é 😀"');
  });
});
