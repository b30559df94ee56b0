import { describe, expect, it } from 'vitest';
import { alertSeverity, groupSeverity, routeChannel } from '../../src/alerts/routing.js';
import { parseFileConfig } from '../../src/config/file.js';

const config = parseFileConfig(
  'test.yml',
  `
slack:
  defaultChannel: C0DEFAULT1
routes:
  - matchers: ['team=payments', 'severity=~critical|warning']
    channel: C0PAYCRIT1
  - matchers: ['team=payments']
    channel: C0PAYMENTS
  - matchers: ['service=~checkout-.*', 'env!=staging']
    channel: C0CHECKOUT
`,
);

describe('routeChannel', () => {
  it('uses the first route whose matchers all match', () => {
    expect(routeChannel(config, { team: 'payments', severity: 'critical' })).toBe('C0PAYCRIT1');
  });

  it('first match wins even when a later route also matches', () => {
    // Both route 0 and route 1 match; route 0 is listed first.
    expect(routeChannel(config, { team: 'payments', severity: 'warning' })).toBe('C0PAYCRIT1');
  });

  it('skips a route when only some of its matchers match', () => {
    expect(routeChannel(config, { team: 'payments', severity: 'info' })).toBe('C0PAYMENTS');
    expect(routeChannel(config, { service: 'checkout-api', env: 'staging' })).toBe('C0DEFAULT1');
  });

  it('treats a missing label as empty, so != matches it', () => {
    expect(routeChannel(config, { service: 'checkout-api' })).toBe('C0CHECKOUT');
  });

  it('falls back to the default channel when no route matches', () => {
    expect(routeChannel(config, { team: 'search' })).toBe('C0DEFAULT1');
    expect(routeChannel(config, {})).toBe('C0DEFAULT1');
  });

  it('uses the default channel when there are no routes at all', () => {
    const bare = parseFileConfig('bare.yml', 'slack:\n  defaultChannel: C0BARE0001\n');
    expect(routeChannel(bare, { team: 'payments', severity: 'critical' })).toBe('C0BARE0001');
  });
});

describe('alertSeverity', () => {
  it.each([
    ['critical', 'P0'],
    ['warning', 'P1'],
    ['info', 'P3'],
  ])('maps severity=%s to %s by default, as the runbooks say', (label, expected) => {
    expect(alertSeverity(config, { severity: label })).toBe(expected);
  });

  it('uses the default severity for an unknown value or a missing label', () => {
    expect(alertSeverity(config, { severity: 'page' })).toBe('P2');
    expect(alertSeverity(config, { severity: 'Critical' })).toBe('P2');
    expect(alertSeverity(config, {})).toBe('P2');
  });

  it('reads the configured label and mapping', () => {
    const custom = parseFileConfig(
      'custom.yml',
      `slack:
  defaultChannel: C0DEFAULT1
alerts:
  severityLabel: priority
  severities: { high: P1, low: P4 }
  defaultSeverity: P3
`,
    );
    expect(alertSeverity(custom, { priority: 'high' })).toBe('P1');
    expect(alertSeverity(custom, { priority: 'low' })).toBe('P4');
    expect(alertSeverity(custom, { severity: 'critical' })).toBe('P3');
  });

  // Regression test for a bug found in review.
  it('ignores label values that name Object.prototype members', () => {
    for (const value of ['constructor', 'toString', 'hasOwnProperty', '__proto__']) {
      expect(alertSeverity(config, { severity: value })).toBe('P2');
    }
  });
});

describe('groupSeverity', () => {
  it('is the most urgent severity across the alerts', () => {
    expect(
      groupSeverity(config, [
        { labels: { severity: 'info' } },
        { labels: { severity: 'critical' } },
        { labels: { severity: 'warning' } },
      ]),
    ).toBe('P0');
    expect(
      groupSeverity(config, [{ labels: { severity: 'info' } }, { labels: { severity: 'warning' } }]),
    ).toBe('P1');
  });

  it('counts an alert without a mapped severity at the default level', () => {
    expect(groupSeverity(config, [{ labels: { severity: 'info' } }, { labels: {} }])).toBe('P2');
    expect(groupSeverity(config, [{ labels: { severity: 'info' } }])).toBe('P3');
  });

  it('does not depend on the order of the alerts', () => {
    const alerts = [
      { labels: { severity: 'warning' } },
      { labels: { severity: 'info' } },
      { labels: { severity: 'critical' } },
    ];
    expect(groupSeverity(config, alerts)).toBe('P0');
    expect(groupSeverity(config, [...alerts].reverse())).toBe('P0');
  });
});
