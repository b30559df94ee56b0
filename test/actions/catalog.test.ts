import { describe, expect, it } from 'vitest';
import { ActionSchema, actionDigest } from '../../src/actions/catalog.js';

/** An action as the YAML catalog has it, before parsing; each test changes one thing. */
const scale = () => ({
  name: 'scale',
  description: 'Scale the payments-api deployment',
  kind: 'scale',
  driver: {
    type: 'command',
    argv: ['kubectl', 'scale', '--replicas={{replicas}}', 'deployment/payments-api'],
    dryRunArgv: [
      'kubectl',
      'scale',
      '--dry-run=server',
      '--replicas={{replicas}}',
      'deployment/payments-api',
    ],
    env: { allow: ['KUBECONFIG'], set: { CONTEXT: 'prod', REASON: 'incident' } },
  },
  params: { replicas: { type: 'integer', min: 1, max: 20, description: 'how many pods' } },
  approval: { approvers: ['U0BOB', '@sre-oncall'], required: 1 },
  timeout: '2m',
});

const digestOf = (yaml: unknown) => actionDigest(ActionSchema.parse(yaml));

/** The same object with every object's keys in reverse order, as another YAML file might list them. */
function reversedKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(reversedKeys);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .reverse()
      .map(([k, v]) => [k, reversedKeys(v)]),
  );
}

describe('actionDigest: what a run of the action does', () => {
  it('is a sha256, the same whatever order the config lists keys in', () => {
    const digest = digestOf(scale());
    expect(digest).toMatch(/^[0-9a-f]{64}$/);
    expect(digestOf(reversedKeys(scale()))).toBe(digest);
  });

  type Action = ReturnType<typeof scale>;
  it.each([
    ['an argv element', (a: Action) => a.driver.argv.push('--context=staging')],
    ['the argv order', (a: Action) => a.driver.argv.reverse()],
    ['an env value set', (a: Action) => (a.driver.env.set.CONTEXT = 'staging')],
    ['a param bound', (a: Action) => (a.params.replicas.max = 50)],
    ['the timeout', (a: Action) => (a.timeout = '5m')],
    ['the kind', (a: Action) => (a.kind = 'custom')],
    ['the dry-run argv', (a: Action) => a.driver.dryRunArgv.pop()],
    ['a dry run shown before the votes', (a: Action) => Object.assign(a, { dryRun: true })],
    // Approved as a run never repeated: it must not become one that is.
    ['what an interrupted run becomes', (a: Action) => Object.assign(a, { onInterrupted: 'retry' })],
    ['being declared idempotent', (a: Action) => Object.assign(a, { idempotent: true })],
  ])('changes with %s', (_what, change) => {
    const changed = scale();
    change(changed);
    expect(digestOf(changed)).not.toBe(digestOf(scale()));
  });

  it.each([
    ['the description', (a: Action) => (a.description = 'Scale it out')],
    ['the approvers', (a: Action) => a.approval.approvers.push('U0CAROL')],
    ['the approvals required', (a: Action) => (a.approval.required = 2)],
    ['a param description', (a: Action) => (a.params.replicas.description = 'pods')],
    ['the timeout written otherwise', (a: Action) => (a.timeout = '120s')],
  ])('does not change with %s', (_what, change) => {
    const changed = scale();
    change(changed);
    expect(digestOf(changed)).toBe(digestOf(scale()));
  });
});
