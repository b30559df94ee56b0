import { parseFileConfig } from '../../src/config/file.js';
import type { Incident } from '../../src/incidents/incidentStore.js';
import type { IncidentEffects, LifecycleDeps } from '../../src/incidents/lifecycle.js';
import { migratedDatabase } from './database.js';

/** An open alert-born incident row as loadSnapshot returns it, for tests of views and templates. */
export function incidentRow(overrides: Partial<Incident> = {}): Incident {
  return {
    id: 42,
    title: 'CheckoutErrors: error rate above 5%',
    severity: 'P1',
    state: 'open',
    status: 'investigating',
    impact: null,
    affected: null,
    eta: null,
    resolution: null,
    declaredBy: null,
    updateCount: 0,
    nextUpdateDueAt: null,
    channelId: 'C0PAYMENTS',
    groupKey: '{}:{alertname="CheckoutErrors"}',
    groupLabels: { alertname: 'CheckoutErrors' },
    commonLabels: {},
    externalUrl: null,
    version: 1,
    rootTs: null,
    rootVersion: 0,
    createdAt: new Date('2026-01-01T00:00:00Z'),
    resolvedAt: null,
    truncatedAlerts: 0,
    reopenCount: 0,
    refusedChannelId: null,
    slackError: null,
    acknowledgedBy: null,
    acknowledgedAt: null,
    ...overrides,
  };
}

/** IncidentEffects that only record what they were asked: no queue. */
export function recordingEffects(): IncidentEffects & { calls: Array<[string, ...unknown[]]> } {
  const calls: Array<[string, ...unknown[]]> = [];
  const record =
    (name: string) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args]);
    };
  return {
    calls,
    changed: record('changed'),
    updateDue: record('updateDue'),
    commanderDue: record('commanderDue'),
    channelNeeded: record('channelNeeded'),
    postmortemRequested: record('postmortemRequested'),
    resolved: record('resolved'),
    acknowledged: record('acknowledged'),
    opened: record('opened'),
  };
}

/**
 * The lifecycle's use cases over a database of the calling describe block's own, with recording effects;
 * a P2 incident's next update is due 30 minutes after the last, a P4's never. Use it inside a test.
 */
export function lifecycleOnDatabase(): () => LifecycleDeps {
  const pool = migratedDatabase();
  const config = parseFileConfig(
    'test',
    'slack: { defaultChannel: C0DEFAULT1 }\nincidents: { updateIntervals: { P2: 30m, P4: none } }',
  );
  let deps: LifecycleDeps | undefined;
  return () => {
    deps ??= { pool: pool(), config, effects: recordingEffects() };
    return deps;
  };
}
