import { describe, expect, it } from 'vitest';
import { parseFileConfig } from '../../src/config/file.js';
import { anyEscalation, policyFor } from '../../src/escalation/policies.js';
import { problemsOf } from '../support/configProblems.js';

const MINIMAL = 'slack:\n  defaultChannel: C0123ABCD\n';
const LATER = 'expected later than the step before it: steps are listed in the order they run';
const NOT_A_DELAY = 'expected 0 (at once) or a duration like 30s, 15m, 2h or 7d';

const incident = (severity: 'P0' | 'P1' | 'P2', labels: Record<string, string> = {}) => ({
  severity,
  commonLabels: labels,
  groupLabels: {},
});

describe('the escalation section', () => {
  it('is empty by default: nothing is escalated', () => {
    const config = parseFileConfig('x', MINIMAL);
    expect(config.escalation).toEqual({ policies: {}, routes: [], severities: {} });
    expect(policyFor(config, incident('P0'))).toBeUndefined();
    expect(anyEscalation(config)).toBe(false);
  });

  it('escalates only where a route or a severity names a policy, not for policies alone', () => {
    const policies = `${MINIMAL}escalation:\n  policies:\n    p1: { steps: [{ after: 0, notify: [U0BOB] }] }\n`;
    expect(anyEscalation(parseFileConfig('x', policies))).toBe(false);
    expect(anyEscalation(parseFileConfig('x', `${policies}  severities: { P1: p1 }\n`))).toBe(true);
    expect(
      anyEscalation(parseFileConfig('x', `${policies}  routes: [{ matchers: ['team=db'], policy: p1 }]\n`)),
    ).toBe(true);
  });

  it('reads steps in ms, 0 meaning at once, and picks the first matching route, else the severity', () => {
    const config = parseFileConfig(
      'x',
      `${MINIMAL}escalation:
  policies:
    p1:
      steps:
        - { after: 0, notify: ['@sre-oncall', U0BOB] }
        - { after: 5m, notify: [S0DBA] }
    database-down:
      steps: [{ after: '0', notify: ['@sre-oncall'] }, { after: 15m, notify: ['@dba-team'] }]
  routes:
    - { matchers: ['alertname=~PostgresDown|DatabaseDown'], policy: database-down }
  severities: { P1: p1 }
`,
    );
    expect(config.escalation.policies.p1!.steps).toEqual([
      { after: 0, notify: ['@sre-oncall', 'U0BOB'] },
      { after: 300_000, notify: ['S0DBA'] },
    ]);
    expect(policyFor(config, incident('P1'))?.name).toBe('p1');
    expect(policyFor(config, incident('P2'))).toBeUndefined();
    expect(policyFor(config, incident('P2', { alertname: 'PostgresDown' }))?.name).toBe('database-down');
    expect(policyFor(config, incident('P1', { alertname: 'DatabaseDown' }))?.name).toBe('database-down');
  });

  it('stops the start with one line per problem', () => {
    expect(
      problemsOf(`${MINIMAL}escalation:
  policies:
    p1:
      steps:
        - { after: -5m, notify: ['@sre-oncall'] }
        - { after: -1, notify: [U0BOB] }
        - { after: 15m, notify: ['@dba team'] }
        - { after: 10m, notify: [U0CAROL] }
        - { after: 1h }
    empty: { steps: [] }
  routes:
    - { matchers: ['alertname=PostgresDown'], policy: databse-down }
  severities: { P1: p1, P2: nope }
`),
    ).toEqual([
      `escalation.policies.p1.steps[0].after: ${NOT_A_DELAY}`,
      `escalation.policies.p1.steps[1].after: ${NOT_A_DELAY}`,
      'escalation.policies.p1.steps[2].notify[0]: expected a Slack user id (U…), a user-group id (S…) or a user-group handle (@sre-oncall)',
      'escalation.policies.p1.steps[4].notify: a step notifies someone, pages, or both',
      `escalation.policies.p1.steps[3].after: ${LATER}`,
      'escalation.policies.empty.steps: expected at least one step',
      'escalation.routes[0].policy: no policy databse-down in escalation.policies',
      'escalation.severities.P2: no policy nope in escalation.policies',
    ]);
  });

  it('refuses two steps at one time, and steps out of order', () => {
    expect(
      problemsOf(`${MINIMAL}escalation:
  policies:
    p1:
      steps:
        - { after: 0, notify: ['@sre-oncall'] }
        - { after: 5m, notify: [U0BOB] }
        - { after: 300s, notify: [U0CAROL] }
        - { after: 1m, notify: [U0CAROL] }
`),
    ).toEqual([
      `escalation.policies.p1.steps[2].after: ${LATER}`,
      `escalation.policies.p1.steps[3].after: ${LATER}`,
    ]);
  });

  it('pages only through a pager of pagers:', () => {
    expect(
      problemsOf(`${MINIMAL}pagers:
  oncall-pagerduty: { type: pagerduty, routingKeyEnv: PAGERDUTY_ROUTING_KEY }
escalation:
  policies:
    p1:
      steps:
        - { after: 0, notify: ['@sre-oncall'] }
        - { after: 5m, page: oncall-pagerduty }
        - { after: 15m, notify: [U0BOB], page: ops-webhook }
    p2:
      steps: [{ after: 1h, page: oncall-pagerdut }]
`),
    ).toEqual([
      'escalation.policies.p1.steps[2].page: no pager ops-webhook in pagers',
      'escalation.policies.p2.steps[0].page: no pager oncall-pagerdut in pagers',
    ]);
  });
});
