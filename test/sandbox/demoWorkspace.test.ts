import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { createDriver } from '../../src/actions/drivers/index.js';
import { parseFileConfig } from '../../src/config/file.js';
import { SANDBOX_CONFIG_PATH } from '../../src/config/index.js';
import { policyFor } from '../../src/escalation/policies.js';
import { DEMO_CHANNELS, DEMO_USERS, SRE_ONCALL } from '../../src/sandbox/demoWorkspace.js';
import { SampleAlerts } from '../../src/sandbox/sampleAlerts.js';

/** The demo config, the demo workspace and the sample alerts fit together and work on any machine. */

const config = parseFileConfig(SANDBOX_CONFIG_PATH, await readFile(SANDBOX_CONFIG_PATH, 'utf8'));
const actions = Object.entries(config.services).flatMap(([service, s]) =>
  s.actions.map((action) => ({ service, action })),
);

describe('config/sandbox.yml', () => {
  it('posts only to channels the demo workspace has', () => {
    const ids = DEMO_CHANNELS.map((c) => c.id);
    const named = [
      config.slack.defaultChannel,
      config.incidents.announcementChannel,
      ...config.routes.map((r) => r.channel),
    ];
    for (const channel of named) expect(ids).toContain(channel);
  });

  it('has every action approved by the demo on-call group, with its own command driver', () => {
    expect(actions.map((a) => `${a.service}/${a.action.name}`)).toEqual([
      'payments-api/scale',
      'payments-api/restart',
      'metasheet-backend/enable-degradation',
      'metasheet-backend/disable-degradation',
    ]);
    for (const { action } of actions) {
      expect(action.approval.approvers).toEqual([`@${SRE_ONCALL.handle}`]);
      expect(action.driver.type).toBe('command');
    }
  });

  it('escalates the demo alert on short timers, calling the demo group and people', async () => {
    const alert = (await SampleAlerts.load()).payload('payments-api-latency.firing')!;
    const chosen = policyFor(config, { severity: 'P1', ...alert });
    expect(chosen?.policy.steps.map((s) => [s.after, s.notify])).toEqual([
      [0, [`@${SRE_ONCALL.handle}`]],
      [30_000, ['U0BOB']],
      [60_000, ['U0CAROL']],
    ]);
    const users = DEMO_USERS.map((u) => u.id);
    for (const step of chosen!.policy.steps)
      for (const who of step.notify) expect([...users, `@${SRE_ONCALL.handle}`]).toContain(who);
  });

  it.each(actions.map((a) => [`${a.service}/${a.action.name}`, a.action] as const))(
    '%s runs fake-kubectl, for real and as a dry run, and touches nothing',
    async (_name, action) => {
      const driver = createDriver(action.driver);
      for (const dryRun of action.dryRun ? [true, false] : [false]) {
        const result = await driver.run({
          params: { replicas: 3 },
          dryRun,
          timeoutMs: 30_000,
          signal: new AbortController().signal,
          env: { PATH: process.env.PATH },
          secrets: [],
        });
        expect(result).toMatchObject({ ok: true, exitCode: 0 });
        expect(result.output).toContain('$ kubectl ');
        expect(result.output).toContain('no cluster was touched');
        expect(result.output.includes('(server dry run)')).toBe(dryRun && action.kind !== 'custom');
      }
    },
  );
});

describe('the sample alerts', () => {
  it('are firing and resolved pairs of version 4 payloads for services of the demo config', async () => {
    const samples = await SampleAlerts.load();
    for (const sample of samples.list()) {
      expect(Object.keys(config.services)).toContain(samples.payload(sample.id)!.commonLabels.service);
    }
    expect(samples.list().map((s) => s.status)).toEqual(['firing', 'resolved', 'firing', 'resolved']);
  });

  it('keep an alert its startsAt until it resolves, and give it a new one when it fires again', async () => {
    const samples = await SampleAlerts.load();
    const at = (iso: string) => new Date(iso);
    const first = samples.payload('payments-api-latency.firing', at('2026-11-23T10:00:00Z'))!;
    const again = samples.payload('payments-api-latency.firing', at('2026-11-23T10:05:00Z'))!;
    const resolved = samples.payload('payments-api-latency.resolved', at('2026-11-23T10:30:00Z'))!;
    const refired = samples.payload('payments-api-latency.firing', at('2026-11-23T11:00:00Z'))!;
    expect(first.alerts.map((a) => a.startsAt)).toEqual([
      '2026-11-23T10:00:00.000Z',
      '2026-11-23T10:00:00.000Z',
    ]);
    expect(again.alerts.map((a) => a.startsAt)).toEqual(first.alerts.map((a) => a.startsAt));
    expect(resolved.alerts.map((a) => [a.status, a.startsAt, a.endsAt])).toEqual(
      first.alerts.map(() => ['resolved', '2026-11-23T10:00:00.000Z', '2026-11-23T10:30:00.000Z']),
    );
    expect(refired.alerts.map((a) => a.startsAt)).toEqual([
      '2026-11-23T11:00:00.000Z',
      '2026-11-23T11:00:00.000Z',
    ]);
    expect(samples.payload('nope')).toBeUndefined();
  });
});
