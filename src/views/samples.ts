import type { AlertRow, IncidentSnapshot, OpenIncidentSummary } from '../incidents/incidentStore.js';
import { ROLES } from '../incidents/incidentStore.js';
import { buildPostmortemView, POSTMORTEM_TEMPLATE, type PostmortemData } from '../incidents/postmortem.js';
import type { TimelineEntry } from '../incidents/timeline.js';
import {
  incidentView,
  LIST_LIMIT,
  listView,
  rootView,
  TIMELINE_LIMIT,
  threadView,
  timelineView,
} from './incident.js';

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
      status: 'resolved',
      impact: long(3000),
      affected: long(3000),
      eta: long(200),
      resolution: long(3000),
      declaredBy: 'U0DECLARER',
      updateCount: 99,
      nextUpdateDueAt: null,
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
    roles: { commander: 'U0COMMANDER', scribe: 'U0SCRIBE', comms: 'U0COMMS' },
    degradations: Array.from({ length: 3 }, (_, i) => ({
      service: `service-${'x'.repeat(50)}-${i}`,
      enabledAt: new Date(),
    })),
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
    // More people's events than a reply shows, each kind at its longest.
    ...Array.from({ length: maxAlertsShown * 2 }, (_, i): TimelineEntry[] => {
      const at = { actor: 'U0SOMEONE', createdAt: new Date() };
      return [
        {
          id: 2000 + i * 10,
          kind: 'status_update',
          data: { number: i, status: 'identified', text: long(3000), nextUpdateAt: new Date().toISOString() },
          ...at,
        },
        { id: 2001 + i * 10, kind: 'note', data: { text: long(3000) }, ...at },
        {
          id: 2002 + i * 10,
          kind: 'role_assigned',
          data: { role: 'commander', user: 'U0NEW', previous: 'U0OLD' },
          ...at,
        },
        {
          id: 2003 + i * 10,
          kind: 'reminder',
          data: { reminder: 'update', commander: 'U0COMMANDER' },
          ...at,
        },
        { id: 2004 + i * 10, kind: 'postmortem_generated', data: { revision: 99 }, ...at },
        {
          id: 2005 + i * 10,
          kind: 'incident_resolved',
          data: { resolution: long(3000), durationMs: 1e9 },
          ...at,
        },
      ];
    }).flat(),
  ];
  const openIncidents: OpenIncidentSummary[] = Array.from({ length: LIST_LIMIT }, (_, i) => ({
    id: 999_999_000 + i,
    title: long(500),
    severity: 'P0',
    status: 'investigating',
    channelId: 'C0000000',
    commander: 'U0COMMANDER',
    createdAt: new Date(),
  }));
  return {
    'incident-root': rootView(snapshot, new Set([long(60)])),
    'incident-thread': threadView(snapshot, entries, alerts, maxAlertsShown),
    'incident-list': listView(openIncidents, 10_000),
    'incident-timeline': timelineView(snapshot, entries.slice(-TIMELINE_LIMIT), 10_000),
    'incident-announcement': { incident: incidentView(snapshot), channelId: 'C0000000' },
    [POSTMORTEM_TEMPLATE]: worstCasePostmortemView(),
  };
}

/** Every field set, every kind of timeline entry, and text full of what could break a Markdown document. */
function worstCasePostmortemView(): object {
  const text = (n: number) => '\n# h\n```\n<!-- [a](b) | *_~`\r\n'.repeat(Math.ceil(n / 30)).slice(0, n);
  const at = new Date('2026-01-01T00:00:00Z');
  const entry = (id: number, kind: string, data: Record<string, unknown>) => ({
    id,
    kind,
    actor: text(100),
    data,
    createdAt: at,
  });
  const data: PostmortemData = {
    incident: {
      id: 999_999_999,
      title: text(500),
      severity: 'P0',
      state: 'resolved',
      status: 'resolved',
      impact: text(3000),
      affected: text(3000),
      resolution: text(3000),
      createdAt: at,
      resolvedAt: new Date('2026-01-02T00:00:00Z'),
      declaredBy: 'U0DECLARER',
      groupKey: text(500),
    },
    roles: ROLES.map((role) => ({ role, userId: `U0${role.toUpperCase()}` })),
    alerts: Array.from({ length: 50 }, () => ({ alertname: text(400), startsAt: at, instances: 1000 })),
    timeline: [
      entry(1, 'incident_opened', { severity: 'P0', groupKey: text(500) }),
      entry(2, 'incident_declared', { severity: 'P0', title: text(500) }),
      ...Array.from({ length: 500 }, (_, i) => entry(10 + i, 'alert_firing', { alertname: text(400) })),
      entry(600, 'alert_resolved', {}),
      entry(601, 'severity_changed', { from: 'P2', to: 'P0' }),
      entry(602, 'status_update', { number: 99, status: 'identified', text: text(3000) }),
      entry(603, 'status_update', { number: 100, text: text(3000) }),
      entry(604, 'role_assigned', { role: 'commander', user: 'U0NEW', previous: 'U0OLD' }),
      entry(605, 'note', { text: text(3000) }),
      entry(606, 'reminder', { reminder: 'update', dueAt: at.toISOString() }),
      entry(607, 'reminder', { reminder: 'commander' }),
      entry(608, 'postmortem_generated', { revision: 99 }),
      entry(609, 'health_check', { by: 'U0CHECKER', outcome: text(3000), nested: { deep: [text(100)] } }),
      entry(610, 'action_failed', { requestedBy: text(100), approvedBy: 'U0APPROVER', error: text(3000) }),
      entry(611, 'incident_resolved', { resolution: text(3000), durationMs: 86_400_000 }),
      entry(612, 'a_kind_added_later', {}),
    ],
  };
  return buildPostmortemView(data);
}
