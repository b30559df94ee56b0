import { describe, expect, it } from 'vitest';
import { silenceableCommonLabels } from '../../src/silences/matchers.js';
import {
  parseSilenceDuration,
  parseSilenceMatchers,
  proposedMatchers,
  SilenceError,
} from '../../src/silences/silences.js';

const WEEK = 7 * 86_400_000;

const codeOf = (fn: () => unknown) => {
  try {
    fn();
  } catch (err) {
    return err instanceof SilenceError ? err.code : String(err);
  }
  return 'no error';
};

describe('proposedMatchers', () => {
  it('takes the group labels when they name more than the alert', () => {
    expect(
      proposedMatchers({
        groupLabels: { service: 'payments-api', alertname: 'HighLatency' },
        commonLabels: { alertname: 'HighLatency', service: 'payments-api', severity: 'critical' },
      }),
    ).toEqual({
      matchers: [
        { name: 'alertname', value: 'HighLatency' },
        { name: 'service', value: 'payments-api' },
      ],
      source: 'groupLabels',
    });
  });

  it('takes the common labels when the group labels are empty or alertname alone', () => {
    const common = { alertname: 'HighLatency', service: 'payments-api' };
    for (const groupLabels of [{}, { alertname: 'HighLatency' }] as Array<Record<string, string>>) {
      expect(proposedMatchers({ groupLabels, commonLabels: common })).toEqual({
        matchers: [
          { name: 'alertname', value: 'HighLatency' },
          { name: 'service', value: 'payments-api' },
        ],
        source: 'commonLabels',
      });
    }
  });

  it('keeps alertname alone when the common labels say nothing more', () => {
    expect(proposedMatchers({ groupLabels: { alertname: 'A' }, commonLabels: { alertname: 'A' } })).toEqual({
      matchers: [{ name: 'alertname', value: 'A' }],
      source: 'groupLabels',
    });
    expect(proposedMatchers({ groupLabels: {}, commonLabels: {} }).matchers).toEqual([]);
  });
});

describe('parseSilenceDuration', () => {
  it('reads minutes, hours and days', () => {
    expect(parseSilenceDuration('30m', WEEK)).toBe(30 * 60_000);
    expect(parseSilenceDuration('2h', WEEK)).toBe(2 * 3_600_000);
    expect(parseSilenceDuration('7d', WEEK)).toBe(WEEK);
    expect(parseSilenceDuration(' 4H ', WEEK)).toBe(4 * 3_600_000);
  });

  it('refuses zero, negative, unparseable and too long', () => {
    for (const text of ['0', '0h', '-1h', '2', 'soon', '1.5h', '', '1w', '30s'])
      expect(
        codeOf(() => parseSilenceDuration(text, WEEK)),
        text,
      ).toBe('BAD_DURATION');
    expect(() => parseSilenceDuration('9999d', WEEK)).toThrow(
      'at most 7 days (silences.maxDuration); "9999d" is longer',
    );
    expect(codeOf(() => parseSilenceDuration('8d', WEEK))).toBe('BAD_DURATION');
  });

  it('escapes what was typed in its answer', () => {
    expect(() => parseSilenceDuration('<!channel>', WEEK)).toThrow('"&lt;!channel&gt;" is not a duration');
  });
});

describe('parseSilenceMatchers', () => {
  it('reads name=value and name="value", one per line', () => {
    expect(parseSilenceMatchers('service=payments-api\n\n  alertname = "High \\"Latency\\""  \r\n')).toEqual([
      { name: 'service', value: 'payments-api' },
      { name: 'alertname', value: 'High "Latency"' },
    ]);
  });

  it('refuses an empty set, bad names, regex and negation, empty values, duplicates', () => {
    for (const text of [
      '',
      '\n  \n',
      'service=~pay.*',
      'service!=payments',
      'service!~pay.*',
      '9service=x',
      'just-text',
      'service=',
      'service=""',
      'a=1\na=2',
      Array.from({ length: 65 }, (_, i) => `l${i}=v`).join('\n'),
    ])
      expect(
        codeOf(() => parseSilenceMatchers(text)),
        text,
      ).toBe('BAD_MATCHERS');
  });

  it('reads \\n in a quoted value as a line break, as Alertmanager does, and keeps other backslashes', () => {
    expect(parseSilenceMatchers('detail="a\\nb"\npath="C:\\\\n\\d"')).toEqual([
      { name: 'detail', value: 'a\nb' },
      { name: 'path', value: 'C:\\n\\d' },
    ]);
  });

  it('refuses a value that opens a quote and does not close it at the end of its line', () => {
    // Before, each was taken as text with its quotes, and silenced nothing.
    for (const text of ['detail="x', 'detail="x\\"', 'detail="x"y', 'detail="'])
      expect(() => parseSilenceMatchers(text), text).toThrow('must close it at the end of the line');
  });

  it('escapes what was typed in its answer', () => {
    expect(() => parseSilenceMatchers('<!here>')).toThrow('"&lt;!here&gt;" is not a matcher');
  });

  it('refuses a NUL or half a surrogate pair, which Alertmanager would take and PostgreSQL not', () => {
    for (const text of [
      'service="pay\u0000ments"',
      'service=pay\u0000ments',
      'service=a\ud800b',
      'a\udfff=x',
    ])
      expect(() => parseSilenceMatchers(text), text).toThrow(
        'This field holds a NUL character or half of a surrogate pair',
      );
  });
});

describe('the common labels a silence may start from', () => {
  const first = { alertname: 'DiskFull', instance: 'db-1', service: 'payments-api', severity: 'critical' };

  it('takes those the alerts share now while they name one kind of alert on one thing', () => {
    const shared = { alertname: 'DiskFull', service: 'payments-api', severity: 'critical' };
    expect(silenceableCommonLabels(shared, first)).toEqual(shared);
  });

  it("takes the first notification's when they do, and hold every label shared now", () => {
    expect(silenceableCommonLabels({ severity: 'critical' }, first)).toEqual(first);
  });

  it('takes none when neither names one thing, or the first would name more than the alerts share', () => {
    // A first notification of two alertnames shared severity alone: as broad as what is shared now.
    expect(silenceableCommonLabels({ severity: 'critical' }, { severity: 'critical' })).toEqual({});
    // It would drop the alertname the alerts share now.
    expect(
      silenceableCommonLabels({ alertname: 'DiskFull', severity: 'critical' }, { severity: 'critical' }),
    ).toEqual({});
  });
});
