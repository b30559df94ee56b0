import type { AlertRow, IncidentSnapshot } from '../incidents/incidentStore.js';
import type { TimelineEntry } from '../incidents/timeline.js';
import { rootView, threadView } from './views.js';

/**
 * The largest views the bot can produce, with every string at its longest and full of characters that
 * escaping lengthens. Rendering these at start proves a template (built-in or override) stays within
 * Slack's limits before the first real incident needs it.
 */
export function worstCaseViews(maxAlertsShown: number): Record<string, object> {
  const long = (n: number) => '<&>'.repeat(Math.ceil(n / 3)).slice(0, n);
  // Long, and full of characters that URL encoding and escaping lengthen.
  const url = `https://example.com/${'é&|<'.repeat(500)}`;
  const alerts: AlertRow[] = Array.from({ length: maxAlertsShown }, (_, i) => ({
    fingerprint: `f${i}`,
    status: i % 2 === 0 ? 'firing' : 'resolved',
    alertname: long(400),
    severity: 'P1',
    labels: Object.fromEntries(Array.from({ length: 30 }, (_, j) => [`label${j}`, long(100)])),
    annotations: { summary: long(2000), description: long(5000), runbook_url: url },
    startsAt: new Date('2026-01-01T00:00:00Z'),
    endsAt: i % 2 === 0 ? null : new Date('2026-01-01T01:00:00Z'),
    generatorUrl: url,
  }));
  const snapshot: IncidentSnapshot = {
    incident: {
      id: 999_999_999,
      title: long(500),
      severity: 'P0',
      state: 'resolved',
      channelId: 'C0000000',
      groupKey: long(500),
      groupLabels: Object.fromEntries(Array.from({ length: 30 }, (_, j) => [`group${j}`, long(100)])),
      commonLabels: {},
      externalUrl: url,
      version: 1,
      rootTs: null,
      rootVersion: 0,
      createdAt: new Date('2026-01-01T00:00:00Z'),
      resolvedAt: new Date('2026-01-02T00:00:00Z'),
    },
    firing: 500,
    resolved: 500,
    alerts,
  };
  const entries: TimelineEntry[] = [
    {
      id: 1,
      kind: 'severity_changed',
      actor: 'alertmanager',
      data: { from: 'P2', to: 'P0' },
      createdAt: new Date(),
    },
    ...alerts.flatMap((a, i) => [
      {
        id: 10 + i,
        kind: 'alert_firing' as const,
        actor: 'alertmanager',
        data: { fingerprint: a.fingerprint },
        createdAt: new Date(),
      },
      {
        id: 100 + i,
        kind: 'alert_resolved' as const,
        actor: 'alertmanager',
        data: { fingerprint: a.fingerprint },
        createdAt: new Date(),
      },
    ]),
    { id: 1000, kind: 'incident_resolved', actor: 'alertmanager', data: {}, createdAt: new Date() },
  ];
  return {
    'incident-root': rootView(snapshot),
    'incident-thread': threadView(snapshot, entries, alerts, maxAlertsShown),
  };
}
