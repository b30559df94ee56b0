import { ROLES } from '../primitives/role.js';
import { SEVERITIES } from '../primitives/severity.js';
import type { TimelineKind } from '../primitives/timelineKind.js';
import { BLOCK_KIT_LIMITS } from '../render/blockKit.js';
import { truncateForMrkdwn } from '../render/mrkdwn.js';
import { type CheckResult, healthView, MAX_CHECKS_SHOWN } from './health.js';
import { heartbeatGapView, MAX_HEARTBEAT_ALERTNAME } from './heartbeat.js';
import {
  type AlertRow,
  type IncidentSnapshot,
  incidentView,
  LIST_LIMIT,
  listView,
  MAX_PLAYBOOK_MOVES,
  type OpenIncidentSummary,
  PLAYBOOK_PROBLEM_MAX,
  type PlaybookView,
  rootView,
  TIMELINE_LIMIT,
  type TimelineEntry,
  threadView,
  timelineView,
} from './incident.js';
import { type IncidentStats, STATS_LIST_LIMIT, statsView } from './incidentStats.js';
import { buildPostmortemView, POSTMORTEM_TEMPLATE, type PostmortemData } from './postmortem.js';

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
      groupKey: long(500),
      groupLabels: Object.fromEntries(Array.from({ length: 30 }, (_, j) => [`group${j}`, long(100)])),
      commonLabels: {},
      externalUrl: url,
      createdAt: new Date('2026-01-01T00:00:00Z'),
      resolvedAt: new Date('2026-01-02T00:00:00Z'),
      truncatedAlerts: 1_000_000,
      reopenCount: 999_999,
      refusedChannelId: 'C0REFUSED1',
      slackError: long(100),
      acknowledgedBy: 'U0ACKNOWLEDGER',
      acknowledgedAt: new Date('2026-01-01T00:05:00Z'),
      silence: {
        silenceId: long(36),
        endsAt: new Date('2026-01-08T00:00:00Z'),
        silencedBy: 'U0SILENCER',
        reason: long(3000),
      },
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
      kind: 'severity_changed',
      actor: 'alertmanager',
      data: { from: 'P2', to: 'P0' },
      createdAt: new Date(),
    },
    ...alerts.flatMap((a) => [
      {
        kind: 'alert_firing' as const,
        actor: 'alertmanager',
        data: { fingerprint: a.fingerprint },
        createdAt: new Date(),
      },
      {
        kind: 'alert_resolved' as const,
        actor: 'alertmanager',
        data: { fingerprint: a.fingerprint },
        createdAt: new Date(),
      },
    ]),
    { kind: 'incident_resolved', actor: 'alertmanager', data: {}, createdAt: new Date() },
    {
      kind: 'incident_reopened',
      actor: 'alertmanager',
      data: { reopenCount: 999_999, resolvedAt: new Date(0).toISOString() },
      createdAt: new Date(),
    },
    // More people's events than a reply shows, each kind at its longest.
    ...Array.from({ length: maxAlertsShown * 2 }, (_, i): TimelineEntry[] => {
      const at = { actor: 'U0SOMEONE', createdAt: new Date() };
      return [
        {
          kind: 'status_update',
          data: { number: i, status: 'identified', text: long(3000), nextUpdateAt: new Date().toISOString() },
          ...at,
        },
        { kind: 'note', data: { text: long(3000) }, ...at },
        {
          kind: 'role_assigned',
          data: { role: 'commander', user: 'U0NEW', previous: 'U0OLD' },
          ...at,
        },
        {
          kind: 'reminder',
          data: { reminder: 'update', commander: 'U0COMMANDER' },
          ...at,
        },
        { kind: 'postmortem_generated', data: { revision: 99 }, ...at },
        {
          kind: 'incident_silenced',
          data: {
            endsAt: new Date().toISOString(),
            reason: long(3000),
            matchers: Array.from({ length: 64 }, (_, j) => ({ name: `label${j}`, value: long(1000) })),
          },
          ...at,
        },
        { kind: 'silence_extended', data: { endsAt: new Date().toISOString() }, ...at },
        { kind: 'incident_unsilenced', data: {}, ...at },
        { kind: 'silence_ended', data: {}, ...at },
        { kind: 'incident_acknowledged', data: { afterMs: 1e9 }, ...at },
        { kind: 'page_sent', data: { pager: long(63), action: 'acknowledge' }, ...at },
        {
          kind: 'page_failed',
          data: { pager: long(63), action: 'acknowledge', error: long(3000), retrying: false },
          ...at,
        },
        {
          kind: 'page_recovered',
          data: {
            pager: long(63),
            action: 'resolve',
            failedAttempts: 1e6,
            failingSince: new Date(0).toISOString(),
          },
          ...at,
        },
        {
          kind: 'incident_escalated',
          data: {
            policy: long(63),
            step: 20,
            steps: 20,
            afterMs: 1e9,
            notify: Array.from({ length: 20 }, () => `@${'x'.repeat(500)}`),
            page: long(63),
          },
          ...at,
        },
        {
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
    'incident-root': rootView(
      worstCaseOpen(snapshot, long(60)),
      new Set([long(60)]),
      true,
      worstCasePlaybook(long),
    ),
    'incident-thread': threadView(snapshot, entries, alerts, maxAlertsShown),
    'incident-list': listView(openIncidents, 10_000),
    'incident-timeline': timelineView(snapshot, entries.slice(-TIMELINE_LIMIT), 10_000),
    'incident-stats': worstCaseStatsView(long),
    'incident-announcement': { incident: incidentView(snapshot), channelId: 'C0000000' },
    [POSTMORTEM_TEMPLATE]: worstCasePostmortemView(),
    ...worstCaseHeartbeatViews(long(MAX_HEARTBEAT_ALERTNAME)),
    'health-result': worstCaseHealthView(long, url),
  };
}

/**
 * The resolved snapshot, open again: the root then has its playbook, the Acknowledge, Post update, Resolve
 * and health-check buttons, and keeps the resolution too (more than any real root shows at once).
 */
function worstCaseOpen(snapshot: IncidentSnapshot, service: string): IncidentSnapshot {
  return {
    ...snapshot,
    incident: {
      ...snapshot.incident,
      state: 'open',
      status: 'investigating',
      nextUpdateDueAt: new Date('2026-01-01T01:00:00Z'),
      acknowledgedBy: null,
      acknowledgedAt: null,
      commonLabels: { service },
    },
  };
}

/** A playbook's most moves, each unavailable and its reason at its longest. */
function worstCasePlaybook(long: (n: number) => string): PlaybookView {
  const name = 'x'.repeat(63);
  return {
    name,
    moves: Array.from({ length: MAX_PLAYBOOK_MOVES }, (_, i) => ({
      actionId: `playbook_move_${i}`,
      label: truncateForMrkdwn(`⚠️ Request ${name}`, BLOCK_KIT_LIMITS.buttonText),
      value: `999999999999999|action|${name}`,
      unavailable: true as const,
    })),
    problems: Array.from({ length: MAX_PLAYBOOK_MOVES }, () =>
      truncateForMrkdwn(long(3000), PLAYBOOK_PROBLEM_MAX),
    ),
  };
}

/** More checks and services than a message shows, each with every field at its longest and a graph link. */
function worstCaseHealthView(long: (n: number) => string, url: string): object {
  const check: CheckResult = {
    name: long(63),
    kind: 'prometheus',
    status: 'fail',
    latencyMs: 60_000,
    detail: long(3000),
    facts: Array.from({ length: 20 }, () => ({ label: long(50), value: long(3000) })),
    link: { url, text: long(200) },
  };
  const results = Array.from({ length: MAX_CHECKS_SHOWN + 1 }, () => check);
  // More services than a message holds, each name at its longest: some with no checks, some with more
  // than are shown.
  const others = Array.from({ length: 200 }, (_, i) => ({
    service: long(63),
    result: { status: 'fail' as const, results: results.slice(0, i % 3) },
  }));
  // Shown to who asked: one block more than the message for everyone.
  return {
    ...healthView({ user: 'U0REQUESTER' }, [
      { service: long(63), result: { status: 'fail', results } },
      ...others,
    ]),
    askerOnly: true,
  };
}

function worstCaseStatsView(long: (n: number) => string): object {
  const most = 999_999_999;
  const durations = { count: most, median: 1e9, p90: 1e9 };
  const line = { incidents: most, open: most, toAcknowledge: durations, toResolve: durations };
  const stats: IncidentStats = {
    bySeverity: [line, ...SEVERITIES.map((severity) => ({ severity, ...line }))],
    topAlerts: Array.from({ length: STATS_LIST_LIMIT }, () => ({ alertname: long(5000), incidents: most })),
    longestOpen: Array.from({ length: STATS_LIST_LIMIT }, (_, i) => ({
      id: most - i,
      severity: 'P0',
      title: long(500),
      openedAt: new Date('2000-01-01T00:00:00Z'),
      acknowledgedBy: 'U0ACKNOWLEDGER',
    })),
    openTotal: most,
  };
  return statsView(stats, 90);
}

function worstCaseHeartbeatViews(alertname: string): Record<string, object> {
  const gap = {
    alertname,
    since: new Date('2026-01-01T00:00:00Z'),
    // The longest a duration in the config can spell, in days: the most digits.
    expectEveryMs: 9_999_999 * 86_400_000,
    endedAt: new Date('2999-01-01T00:00:00Z'),
  };
  return {
    'heartbeat-missing': heartbeatGapView({ ...gap, endedAt: null }),
    'heartbeat-back': heartbeatGapView(gap),
  };
}

/** Every field set, every kind of timeline entry, and text full of what could break a Markdown document. */
function worstCasePostmortemView(): object {
  const text = (n: number) => '\n# h\n```\n<!-- [a](b) | *_~`\r\n'.repeat(Math.ceil(n / 30)).slice(0, n);
  const at = new Date('2026-01-01T00:00:00Z');
  const entry = (kind: TimelineKind, data: Record<string, unknown>) => ({
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
      entry('incident_opened', { severity: 'P0', groupKey: text(500) }),
      entry('incident_declared', { severity: 'P0', title: text(500) }),
      ...Array.from({ length: 500 }, () => entry('alert_firing', { alertname: text(400) })),
      entry('alert_resolved', {}),
      entry('severity_changed', { from: 'P2', to: 'P0' }),
      entry('status_update', { number: 99, status: 'identified', text: text(3000) }),
      entry('status_update', { number: 100, text: text(3000) }),
      entry('role_assigned', { role: 'commander', user: 'U0NEW', previous: 'U0OLD' }),
      entry('note', { text: text(3000) }),
      entry('reminder', { reminder: 'update', dueAt: at.toISOString() }),
      entry('reminder', { reminder: 'commander' }),
      entry('postmortem_generated', { revision: 99 }),
      entry('incident_silenced', {
        endsAt: at.toISOString(),
        reason: text(3000),
        matchers: Array.from({ length: 64 }, (_, j) => ({ name: `l${j}`, value: text(1000) })),
      }),
      entry('silence_extended', { endsAt: at.toISOString() }),
      entry('incident_acknowledged', { afterMs: 300_000 }),
      entry('health_check', { by: 'U0CHECKER', outcome: text(3000), nested: { deep: [text(100)] } }),
      entry('action_failed', { requestedBy: text(100), approvedBy: 'U0APPROVER', error: text(3000) }),
      entry('incident_resolved', { resolution: text(3000), durationMs: 86_400_000 }),
      entry('incident_reopened', { reopenCount: 999_999, resolvedAt: at.toISOString() }),
    ],
  };
  return buildPostmortemView(data);
}
