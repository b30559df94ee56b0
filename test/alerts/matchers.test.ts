import { describe, expect, it } from 'vitest';
import { type Matcher, matches, parseMatcher } from '../../src/alerts/matchers.js';

function matcher(text: string): Matcher {
  const parsed = parseMatcher(text);
  if ('error' in parsed) throw new Error(`unexpected parse error: ${parsed.error}`);
  return parsed;
}

const matchesText = (text: string, labels: Record<string, string>) => matches(matcher(text), labels);

describe('parseMatcher', () => {
  it.each([
    ['team=payments', { label: 'team', op: '=', value: 'payments' }],
    ['env!=dev', { label: 'env', op: '!=', value: 'dev' }],
    ['severity=~critical|warning', { label: 'severity', op: '=~', value: 'critical|warning' }],
    ['svc!~test-.*', { label: 'svc', op: '!~', value: 'test-.*' }],
    ['_private_1=x', { label: '_private_1', op: '=', value: 'x' }],
  ])('parses %s', (text, expected) => {
    expect(parseMatcher(text)).toMatchObject(expected);
  });

  it('trims whitespace around the label, the operator and the value', () => {
    expect(parseMatcher('  team =  payments  ')).toEqual({ label: 'team', op: '=', value: 'payments' });
  });

  it('strips surrounding double quotes and keeps what is inside them verbatim', () => {
    expect(parseMatcher('team="payments"')).toEqual({ label: 'team', op: '=', value: 'payments' });
    expect(parseMatcher('team=" pay ments "')).toEqual({ label: 'team', op: '=', value: ' pay ments ' });
    expect(parseMatcher('expr="a!=b"')).toEqual({ label: 'expr', op: '=', value: 'a!=b' });
    expect(parseMatcher('env=""')).toEqual({ label: 'env', op: '=', value: '' });
  });

  it('keeps a lone or unbalanced quote as part of the value', () => {
    expect(parseMatcher('team="')).toEqual({ label: 'team', op: '=', value: '"' });
    expect(parseMatcher('team="payments')).toEqual({ label: 'team', op: '=', value: '"payments' });
  });

  it('takes the first operator, so the value may contain = signs', () => {
    expect(parseMatcher('query=a=b')).toEqual({ label: 'query', op: '=', value: 'a=b' });
    expect(parseMatcher('query==b')).toEqual({ label: 'query', op: '=', value: '=b' });
  });

  it('accepts an empty value', () => {
    expect(parseMatcher('env=')).toEqual({ label: 'env', op: '=', value: '' });
  });

  it('anchors regexes at both ends', () => {
    expect(matcher('severity=~critical|warning').regex).toEqual(/^(?:critical|warning)$/);
    expect(matcher('svc!~test-.*').regex).toEqual(/^(?:test-.*)$/);
  });

  it('compiles no regex for = and !=', () => {
    expect(matcher('team=a.*').regex).toBeUndefined();
  });

  it.each(['', 'team', 'team payments', '=payments', '9team=x', 'service-name=api', 'team:payments'])(
    'refuses %j with the expected forms in the message',
    (text) => {
      expect(parseMatcher(text)).toEqual({
        error: `expected label=value, label!=value, label=~regex or label!~regex, got "${text}"`,
      });
    },
  );

  it('refuses an invalid regex, quoting the matcher and the regex error', () => {
    expect(parseMatcher('svc=~(api')).toEqual({
      error: 'invalid regex in "svc=~(api": Invalid regular expression: /^(?:(api)$/: Unterminated group',
    });
    expect(parseMatcher('svc!~*')).toEqual({
      error: 'invalid regex in "svc!~*": Invalid regular expression: /^(?:*)$/: Nothing to repeat',
    });
  });
});

describe('matches', () => {
  describe('= and !=', () => {
    it('compare the whole value, case-sensitively', () => {
      expect(matchesText('team=payments', { team: 'payments' })).toBe(true);
      expect(matchesText('team=payments', { team: 'payments-eu' })).toBe(false);
      expect(matchesText('team=payments', { team: 'Payments' })).toBe(false);
      expect(matchesText('team!=payments', { team: 'payments' })).toBe(false);
      expect(matchesText('team!=payments', { team: 'search' })).toBe(true);
    });

    it('take regex characters literally', () => {
      expect(matchesText('path=/a.*', { path: '/a.*' })).toBe(true);
      expect(matchesText('path=/a.*', { path: '/abc' })).toBe(false);
    });
  });

  describe('=~ and !~', () => {
    it('match the whole value, never a substring', () => {
      expect(matchesText('severity=~crit', { severity: 'critical' })).toBe(false);
      expect(matchesText('severity=~crit.*', { severity: 'critical' })).toBe(true);
      expect(matchesText('severity=~critical|warning', { severity: 'critical' })).toBe(true);
      expect(matchesText('severity=~critical|warning', { severity: 'warning' })).toBe(true);
      // Each alternative is anchored too, not just the first and the last.
      expect(matchesText('severity=~critical|warning', { severity: 'not-critical' })).toBe(false);
      expect(matchesText('severity=~critical|warning', { severity: 'warnings' })).toBe(false);
    });

    it('!~ is the negation of =~', () => {
      for (const value of ['test-api', 'api', 'test-', 'my-test-api']) {
        expect(matchesText('svc!~test-.*', { svc: value })).toBe(
          !matchesText('svc=~test-.*', { svc: value }),
        );
      }
      expect(matchesText('svc!~test-.*', { svc: 'test-api' })).toBe(false);
      expect(matchesText('svc!~test-.*', { svc: 'my-test-api' })).toBe(true);
    });

    it('matches a quoted regex without the quotes', () => {
      expect(matchesText('severity=~"critical|warning"', { severity: 'warning' })).toBe(true);
    });
  });

  describe('a missing label, which Alertmanager treats as the empty string', () => {
    it.each([
      ['env=', true],
      ['env=""', true],
      ['env=prod', false],
      ['env!=prod', true],
      ['env!=""', false],
      ['env=~.*', true],
      ['env=~.+', false],
      ['env!~.+', true],
      ['env!~.*', false],
    ])('%s on labels without env gives %s', (text, expected) => {
      expect(matchesText(text, { team: 'payments' })).toBe(expected);
    });

    it('behaves exactly as a label set to ""', () => {
      for (const text of ['env=', 'env=prod', 'env!=prod', 'env=~.*', 'env=~.+', 'env!~.+']) {
        expect(matchesText(text, {})).toBe(matchesText(text, { env: '' }));
      }
    });

    it.each(['constructor', 'toString', '__proto__', 'hasOwnProperty'])(
      'counts %s as missing unless the alert has it: Object.prototype holds no labels',
      (label) => {
        expect(matchesText(`${label}=`, { team: 'payments' })).toBe(true);
        expect(matchesText(`${label}=~.+`, { team: 'payments' })).toBe(false);
        expect(matchesText(`${label}!~.+`, { team: 'payments' })).toBe(true);
        expect(matchesText(`${label}=x`, JSON.parse(`{"${label}": "x"}`))).toBe(true);
      },
    );
  });
});
