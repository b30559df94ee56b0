import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fillQuery,
  promqlString,
  QueryTemplateError,
  querySlots,
  seriesName,
} from '../../src/health/promql.js';

/**
 * What Prometheus makes of a double-quoted string's inside: its lexer (a raw newline or an unescaped
 * quote ends the query's string, U+FFFD is refused as invalid UTF-8) and then Go's strconv.Unquote.
 */
function prometheusUnquote(inside: string): string {
  const simple: Record<string, string> = {
    a: '\x07',
    b: '\b',
    f: '\f',
    n: '\n',
    r: '\r',
    t: '\t',
    v: '\v',
    '\\': '\\',
    '"': '"',
  };
  let out = '';
  for (let i = 0; i < inside.length; i++) {
    const char = inside[i]!;
    if (char === '"' || char === '\n') throw new Error(`the string ends early at ${i}`);
    if (char === '\ufffd') throw new Error('invalid UTF-8 rune');
    if (char !== '\\') {
      out += char;
      continue;
    }
    const next = inside[++i];
    if (next !== undefined && simple[next] !== undefined) out += simple[next];
    else if (next === 'u' && /^[0-9a-fA-F]{4}$/.test(inside.slice(i + 1, i + 5))) {
      out += String.fromCodePoint(Number.parseInt(inside.slice(i + 1, i + 5), 16));
      i += 4;
    } else throw new Error(`unknown escape sequence \\${next}`);
  }
  return out;
}

/** Any UTF-16 text, lone surrogates included, rich in what PromQL strings treat specially. */
const hostile = fc.string({
  unit: fc.oneof(
    fc.constantFrom('"', '\\', '\n', '\r', '\ufffd', '\ud800', '\udfff', '.', '*', '(', '|', '$'),
    fc.integer({ min: 0, max: 0xffff }).map((code) => String.fromCharCode(code)),
    fc.string({ unit: 'binary', minLength: 1, maxLength: 1 }),
  ),
});

describe('promqlString', () => {
  it('escapes backslash, double quote and line breaks as Go does', () => {
    expect(promqlString('a\\b"c\nd\re\tf')).toBe('a\\\\b\\"c\\nd\\re\\tf');
    expect(promqlString('\u0000\u001b\u007f\ufffd')).toBe('\\u0000\\u001b\\u007f\\ufffd');
    expect(promqlString('café 🚀')).toBe('café 🚀');
  });

  it('gives back every string as it was, and nothing that could end the string', () => {
    fc.assert(
      fc.property(hostile, (value) => {
        expect(prometheusUnquote(promqlString(value))).toBe(value.toWellFormed());
      }),
      { numRuns: 2000 },
    );
  });
});

describe('fillQuery', () => {
  it('matches a value after =~ literally: its regex characters escaped, then the string', () => {
    fc.assert(
      fc.property(hostile, (value) => {
        const filled = fillQuery('up{path=~"{{labels.path}}"}', { path: value });
        if (!('query' in filled)) throw new Error('not filled');
        const pattern = prometheusUnquote(filled.query.slice('up{path=~"'.length, -'"}'.length));
        // Prometheus anchors its regexes; JavaScript's syntax agrees with RE2's on these escapes.
        expect(new RegExp(`^(?:${pattern})$`, 'su').test(value.toWellFormed())).toBe(true);
      }),
      { numRuns: 1000 },
    );
  });

  it('fills every occurrence, and names each missing label once', () => {
    const query = 'a{x="{{labels.x}}"} / b{x="{{labels.x}}", y!~"{{labels.y}}-.*"}';
    expect(fillQuery(query, { x: '1', y: 'a.b' })).toEqual({ query: 'a{x="1"} / b{x="1", y!~"a\\\\.b-.*"}' });
    expect(fillQuery(query, {})).toEqual({ missing: ['x', 'y'] });
  });

  it('takes only own labels: no placeholder reaches the prototype', () => {
    expect(fillQuery('a{x="{{labels.constructor}}"}', {})).toEqual({ missing: ['constructor'] });
  });
});

describe('querySlots refuses placeholders where no escaping protects them', () => {
  it.each([
    ['up{job={{labels.job}}}', '{{labels.job}} is outside a string: write it inside double quotes'],
    ["up{job='{{labels.job}}'}", "{{labels.job}} is inside a '…' string: use double quotes"],
    ['up{job=`{{labels.job}}`}', '{{labels.job}} is inside a `…` string: use double quotes'],
    ['up # {{labels.job}}\n', 'a placeholder in a comment would let the value end it'],
    ['up{job="{{job}}"}', 'expected a placeholder like {{labels.service}}, got {{job}}'],
    ['up{job="{{labels.job"}', 'expected a placeholder like {{labels.service}}, got {{labels.job"}'],
    ['up{job="{{labels.a-b}}"}', 'expected a placeholder like {{labels.service}}, got {{labels.a-b}}'],
    ['up{job="api}', 'the string opened at character 8 is not closed'],
  ])('%s', (query, message) => {
    expect(() => querySlots(query)).toThrow(QueryTemplateError);
    expect(() => querySlots(query)).toThrow(message);
  });

  it('accepts quotes escaped inside strings and # inside strings', () => {
    expect(querySlots('up{a="x\\"#", b="{{labels.b}}"} # note').map((s) => s.label)).toEqual(['b']);
  });
});

describe('seriesName', () => {
  it('shows a series as Prometheus does, its values escaped', () => {
    expect(seriesName({ __name__: 'up', job: 'a"b' })).toBe('up{job="a\\"b"}');
    expect(seriesName({ __name__: 'up' })).toBe('up');
    expect(seriesName({})).toBe('{}');
  });
});
