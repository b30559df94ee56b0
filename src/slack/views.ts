import type { Severity } from '../alerts/severity.js';
import { type AlertRow, type IncidentSnapshot, incidentRef } from '../incidents/incidentStore.js';
import type { TimelineEntry } from '../incidents/timeline.js';
import { BLOCK_KIT_LIMITS } from '../render/blockKit.js';
import { truncateForMrkdwn } from '../render/mrkdwn.js';

/**
 * View models for the message templates. Every string here is raw (templates escape it) and cut so
 * that, once escaped, each Block Kit text stays within Slack's limits whatever the alert carried.
 */

export interface AlertView {
  alertname: string;
  severity: Severity;
  firing: boolean;
  summary: string;
  description: string;
  labels: string;
  startsAt: string;
  endsAt?: string;
  generatorUrl?: string;
  runbookUrl?: string;
}

export interface IncidentView {
  ref: string;
  header: string;
  title: string;
  severity: Severity;
  resolved: boolean;
  createdAt: string;
  resolvedAt?: string;
  duration?: string;
}

export interface RootView {
  incident: IncidentView;
  firing: number;
  resolved: number;
  alerts: AlertView[];
  moreAlerts: number;
  groupLabels: string;
  alertmanagerUrl?: string;
}

export interface ThreadView {
  incident: IncidentView;
  firing: AlertView[];
  firingCount: number;
  firingMore: number;
  resolved: AlertView[];
  resolvedCount: number;
  resolvedMore: number;
  severityChange?: { from: Severity; to: Severity };
  incidentResolved: boolean;
}

// Hidden from the label line: shown elsewhere in the message.
const SHOWN_ELSEWHERE = new Set(['alertname', 'severity']);

function labelText(labels: Record<string, string>, max: number): string {
  const text = Object.entries(labels)
    .filter(([k]) => !SHOWN_ELSEWHERE.has(k))
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
  return truncateForMrkdwn(text, max);
}

export function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days ${hours % 24} h`;
}

export function alertView(alert: AlertRow): AlertView {
  return {
    alertname: truncateForMrkdwn(alert.alertname || '(no alertname)', 150),
    severity: alert.severity,
    firing: alert.status === 'firing',
    summary: truncateForMrkdwn(alert.annotations.summary ?? '', 500),
    description: truncateForMrkdwn(alert.annotations.description ?? alert.annotations.message ?? '', 1000),
    labels: labelText(alert.labels, 800),
    startsAt: alert.startsAt.toISOString(),
    ...(alert.endsAt ? { endsAt: alert.endsAt.toISOString() } : {}),
    ...(alert.generatorUrl ? { generatorUrl: alert.generatorUrl } : {}),
    ...(alert.annotations.runbook_url ? { runbookUrl: alert.annotations.runbook_url } : {}),
  };
}

export function incidentView(snapshot: IncidentSnapshot): IncidentView {
  const { incident } = snapshot;
  const ref = incidentRef(incident.id);
  const resolved = incident.state === 'resolved';
  const icon = resolved ? '✅' : '🔴';
  const prefix = `${icon} [${incident.severity}] ${ref} · `;
  const header = prefix + truncateForMrkdwn(incident.title, BLOCK_KIT_LIMITS.headerText - prefix.length);
  return {
    ref,
    header,
    title: truncateForMrkdwn(incident.title, 500),
    severity: incident.severity,
    resolved,
    createdAt: incident.createdAt.toISOString(),
    ...(incident.resolvedAt
      ? {
          resolvedAt: incident.resolvedAt.toISOString(),
          duration: formatDuration(incident.resolvedAt.getTime() - incident.createdAt.getTime()),
        }
      : {}),
  };
}

export function rootView(snapshot: IncidentSnapshot): RootView {
  const total = snapshot.firing + snapshot.resolved;
  return {
    incident: incidentView(snapshot),
    firing: snapshot.firing,
    resolved: snapshot.resolved,
    alerts: snapshot.alerts.map(alertView),
    moreAlerts: Math.max(0, total - snapshot.alerts.length),
    groupLabels: labelText(snapshot.incident.groupLabels, 1000),
    ...(snapshot.incident.externalUrl ? { alertmanagerUrl: snapshot.incident.externalUrl } : {}),
  };
}

/** One thread reply telling everything that happened since the last one. */
export function threadView(
  snapshot: IncidentSnapshot,
  entries: ReadonlyArray<TimelineEntry>,
  alerts: ReadonlyArray<AlertRow>,
  maxShown: number,
): ThreadView {
  const byFingerprint = new Map(alerts.map((a) => [a.fingerprint, a]));
  const pick = (kind: TimelineEntry['kind']) =>
    entries
      .filter((e) => e.kind === kind)
      .map((e) => byFingerprint.get(String(e.data.fingerprint)))
      .filter((a): a is AlertRow => a !== undefined);
  const firing = pick('alert_firing');
  const resolved = pick('alert_resolved');
  // Each list gets half the room, so that together they stay within one message.
  const half = Math.max(1, Math.floor(maxShown / 2));
  const severityChanges = entries.filter((e) => e.kind === 'severity_changed');
  const first = severityChanges[0]?.data;
  const last = severityChanges.at(-1)?.data;
  return {
    incident: incidentView(snapshot),
    firing: firing.slice(0, half).map(alertView),
    firingCount: firing.length,
    firingMore: Math.max(0, firing.length - half),
    resolved: resolved.slice(0, half).map(alertView),
    resolvedCount: resolved.length,
    resolvedMore: Math.max(0, resolved.length - half),
    ...(first && last ? { severityChange: { from: first.from as Severity, to: last.to as Severity } } : {}),
    incidentResolved: entries.some((e) => e.kind === 'incident_resolved'),
  };
}

/** Which timeline entries a thread reply tells; the rest stay in the record only. */
export const THREAD_KINDS: ReadonlySet<TimelineEntry['kind']> = new Set([
  'alert_firing',
  'alert_resolved',
  'severity_changed',
  'incident_resolved',
]);
