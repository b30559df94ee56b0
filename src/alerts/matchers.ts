import { ownValue } from '../primitives/records.js';

/**
 * Alertmanager-style label matchers (`team=payments`, `severity=~critical|warning`, `env!=dev`, `svc!~test-.*`).
 * Regexes are anchored at both ends, as Alertmanager anchors them.
 */
export interface Matcher {
  label: string;
  op: '=' | '!=' | '=~' | '!~';
  value: string;
  regex?: RegExp;
}

const MATCHER = /^\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*(.*?)\s*$/;

export function parseMatcher(text: string): Matcher | { error: string } {
  const found = MATCHER.exec(text);
  if (!found)
    return { error: `expected label=value, label!=value, label=~regex or label!~regex, got "${text}"` };
  const [, label, op, raw] = found as unknown as [string, string, Matcher['op'], string];
  const value = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw;
  if (op === '=~' || op === '!~') {
    try {
      return { label, op, value, regex: new RegExp(`^(?:${value})$`) };
    } catch (err) {
      return { error: `invalid regex in "${text}": ${(err as Error).message}` };
    }
  }
  return { label, op, value };
}

export function matches(matcher: Matcher, labels: Readonly<Record<string, string>>): boolean {
  const actual = ownValue(labels, matcher.label) ?? '';
  switch (matcher.op) {
    case '=':
      return actual === matcher.value;
    case '!=':
      return actual !== matcher.value;
    case '=~':
      return matcher.regex!.test(actual);
    case '!~':
      return !matcher.regex!.test(actual);
  }
}
