import { formatDuration } from '../primitives/duration.js';
import { ALERTMANAGER_ACTOR, incidentRef } from '../primitives/ids.js';
import { matcherOperator } from '../primitives/matcherOperator.js';
import type { Role } from '../primitives/role.js';
import type { Severity } from '../primitives/severity.js';
import { ordinal } from '../primitives/text.js';
import type { TimelineKind } from '../primitives/timelineKind.js';
import { BLOCK_KIT_LIMITS } from '../render/blockKit.js';
import { truncateForMrkdwn } from '../render/mrkdwn.js';

/**
 * View models for the message templates. Every string here is raw (templates escape it) and cut so
 * that, once escaped, each Block Kit text stays within Slack's limits whatever the alert carried.
 */

/** An alert as its line shows it; `fingerprint` matches it to the timeline entries that name it. */
export interface AlertRow {
  alertname: string;
  severity: Severity;
  status: 'firing' | 'resolved';
  annotations: Record<string, string>;
  labels: Record<string, string>;
  startsAt: Date;
  endsAt: Date | null;
  generatorUrl: string | null;
  fingerprint: string;
}

/** An incident's record as its messages and its post-mortem tell it. */
export interface Incident {
  id: number;
  title: string;
  severity: Severity;
  state: 'open' | 'resolved';
  status: string;
  declaredBy: string | null;
  groupKey: string | null;
  impact: string | null;
  affected: string | null;
  eta: string | null;
  resolution: string | null;
  updateCount: number;
  nextUpdateDueAt: Date | null;
  createdAt: Date;
  resolvedAt: Date | null;
  groupLabels: Record<string, string>;
  commonLabels: Record<string, string>;
  externalUrl: string | null;
  /** Alerts of the group its latest notification did not list. */
  truncatedAlerts: number;
  /** How many times its group fired again soon after it resolved (alerts.reopenWithin). */
  reopenCount: number;
  /** Where it belonged when Slack refused the bot there (null: its own channel was never created). */
  refusedChannelId: string | null;
  /** Why it is shown elsewhere than it belongs: Slack's error. */
  slackError: string | null;
  /** Its live silence in Alertmanager. */
  silence?: { silenceId: string; endsAt: Date; silencedBy: string; reason: string };
  /** Who acknowledged it since it last opened, and when. */
  acknowledgedBy: string | null;
  acknowledgedAt: Date | null;
}

/** An incident as its messages show it: its record, who holds each role, and the first alerts to list. */
export interface IncidentSnapshot {
  incident: Incident;
  roles: Partial<Record<Role, string>>;
  degradations: Array<{ service: string; enabledAt: Date }>;
  alerts: AlertRow[];
  /** How many of all its alerts fire and have resolved, listed or not. */
  firing: number;
  resolved: number;
}

/** A timeline entry as the thread, /incident timeline and the post-mortem tell it. */
export interface TimelineEntry {
  kind: TimelineKind;
  actor: string;
  data: Record<string, unknown>;
  createdAt: Date;
}

/** An open incident as /incident list shows it. */
export interface OpenIncidentSummary {
  id: number;
  severity: Severity;
  title: string;
  status: string;
  channelId: string | null;
  commander: string | null;
  createdAt: Date;
}

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
  id: number;
  ref: string;
  header: string;
  title: string;
  severity: Severity;
  resolved: boolean;
  /** Opened by Alertmanager rather than declared by a person. */
  alertBorn: boolean;
  status: string;
  impact?: string;
  affected?: string;
  eta?: string;
  resolution?: string;
  declaredBy?: string;
  commander?: string;
  scribe?: string;
  comms?: string;
  updateCount: number;
  nextUpdateAt?: string;
  createdAt: string;
  resolvedAt?: string;
  duration?: string;
  /** Open again after a resolution: which time it is open, `2nd`, `3rd`… */
  reopened?: string;
}

export interface RootView {
  incident: IncidentView;
  degradations: Array<{ service: string; enabledAt: string }>;
  /** The service whose checks the "Run health check" button runs, when the alerts name a known one. */
  healthService?: string;
  firing: number;
  resolved: number;
  alerts: AlertView[];
  moreAlerts: number;
  /** Alerts the latest notification did not list: the incident shows only part of its group. */
  truncatedAlerts: number;
  /** Either of the two: the list of alerts is not the whole group. */
  partial: boolean;
  groupLabels: string;
  alertmanagerUrl?: string;
  /** Shown elsewhere than it belongs: where (unless its own channel was never made) and Slack's error. */
  channelRefusal?: { channel?: string; slackError: string };
  /**
   * Alert-born: who acknowledged it and when; or, open and not acknowledged, `waiting` (the root then
   * offers the Acknowledge button). Declared incidents have their owner from the start: neither.
   */
  acknowledgement?: { by: string; at: string } | 'waiting';
  /** Its alerts are silenced in Alertmanager: until when, by whom, why; the silence's page there. */
  silence?: { endsAt: string; by: string; reason: string; url?: string };
  /**
   * The silence buttons it offers, when Alertmanager is configured and alerts opened it: Silence, or
   * Extend and Unsilence while silenced; once resolved, only the latter, titled to expire the silence.
   */
  silenceButtons?: { silence?: true; extend?: true; unsilence?: 'Unsilence' | 'Expire silence' };
  /** The runbook's first moves its playbook offers while it is open, a button each. */
  playbook?: PlaybookView;
}

/** The most moves a playbook offers: one actions block, with room to spare. */
export const MAX_PLAYBOOK_MOVES = 10;
/** How long each of a playbook's problems may be, escaped: all of them fit one section with the heading. */
export const PLAYBOOK_PROBLEM_MAX = 250;

/** A playbook's moves as buttons; `problems` says why an action cannot be requested as things are. */
export interface PlaybookView {
  name: string;
  moves: Array<{ actionId: string; label: string; value: string; unavailable?: true }>;
  problems: string[];
}

/** One timeline entry told in the thread; exactly one of the `is…` flags is set. */
export interface EventView {
  at: string;
  actor?: string;
  byAlertmanager: boolean;
  isSeverity?: boolean;
  from?: string;
  to?: string;
  isUpdate?: boolean;
  number?: number;
  status?: string;
  text?: string;
  nextUpdateAt?: string;
  isNote?: boolean;
  isRole?: boolean;
  role?: string;
  user?: string;
  previous?: string;
  isResolved?: boolean;
  isReopened?: boolean;
  isAcknowledged?: boolean;
  isEscalated?: boolean;
  /** An escalation step: whom it calls (user and user-group ids, or handles Slack did not know). */
  notify?: string[];
  step?: number;
  steps?: number;
  /** Which time it is open: `2nd`, `3rd`… */
  reopened?: string;
  postmortemFollows?: boolean;
  resolution?: string;
  duration?: string;
  isReminder?: boolean;
  commanderMissing?: boolean;
  /** A reminder that this service still runs degraded. */
  degradedService?: string;
  commander?: string;
  isPostmortem?: boolean;
  revision?: number;
  isSilenced?: boolean;
  isSilenceExtended?: boolean;
  isUnsilenced?: boolean;
  isSilenceEnded?: boolean;
  endsAt?: string;
  /** A silence's matchers as name=value, comma-separated. */
  matchers?: string;
  isPageSent?: boolean;
  isPageFailed?: boolean;
  isPageRecovered?: boolean;
  /** The pager (config pagers) a page event went to. */
  pager?: string;
  /** The event as words: page (a trigger), acknowledgement, resolution. */
  pageEvent?: string;
  pageTrigger?: boolean;
  /** A failing page is tried again; a refused one is not. */
  retrying?: boolean;
  error?: string;
  failedAttempts?: number;
}

export interface ThreadView {
  incident: IncidentView;
  firing: AlertView[];
  firingCount: number;
  firingMore: number;
  resolved: AlertView[];
  resolvedCount: number;
  resolvedMore: number;
  events: EventView[];
  moreEvents: number;
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

const STATUS_LABELS: Record<string, string> = {
  investigating: 'Investigating',
  identified: 'Identified',
  monitoring: 'Monitoring',
  resolved: 'Resolved',
};

const optional = <K extends string>(key: K, value: string | null | undefined, max: number) =>
  (value ? { [key]: truncateForMrkdwn(value, max) } : {}) as Partial<Record<K, string>>;

/**
 * What every message shows of the incident itself. /incident timeline keeps its answer until a column read
 * here changes: migrations/027_incident_timeline_changed.sql names them
 * (test/incidents/timelineChanged.test.ts changes every column to check it).
 */
export function incidentView(snapshot: IncidentSnapshot): IncidentView {
  const { incident, roles } = snapshot;
  const ref = incidentRef(incident.id);
  const resolved = incident.state === 'resolved';
  const icon = resolved ? '✅' : '🔴';
  const prefix = `${icon} [${incident.severity}] ${ref} · `;
  const header = prefix + truncateForMrkdwn(incident.title, BLOCK_KIT_LIMITS.headerText - prefix.length);
  return {
    id: incident.id,
    ref,
    header,
    title: truncateForMrkdwn(incident.title, 500),
    severity: incident.severity,
    resolved,
    alertBorn: incident.groupKey !== null,
    status: STATUS_LABELS[resolved ? 'resolved' : incident.status] ?? incident.status,
    ...optional('impact', incident.impact, 500),
    ...optional('affected', incident.affected, 500),
    ...optional('eta', incident.eta, 150),
    ...optional('resolution', incident.resolution, 1000),
    ...(incident.declaredBy ? { declaredBy: incident.declaredBy } : {}),
    ...(roles.commander ? { commander: roles.commander } : {}),
    ...(roles.scribe ? { scribe: roles.scribe } : {}),
    ...(roles.comms ? { comms: roles.comms } : {}),
    updateCount: incident.updateCount,
    ...(incident.nextUpdateDueAt && !resolved
      ? { nextUpdateAt: incident.nextUpdateDueAt.toISOString() }
      : {}),
    createdAt: incident.createdAt.toISOString(),
    ...(incident.resolvedAt
      ? {
          resolvedAt: incident.resolvedAt.toISOString(),
          duration: formatDuration(incident.resolvedAt.getTime() - incident.createdAt.getTime()),
        }
      : {}),
    ...(incident.reopenCount > 0 && !resolved ? { reopened: timesOpen(incident.reopenCount) } : {}),
  };
}

/** Which time an incident reopened `reopenCount` times is open: the first reopening makes it the 2nd. */
function timesOpen(reopenCount: number): string {
  return ordinal(reopenCount + 1);
}

/**
 * The root's blocks (incident-root.hbs) besides its alerts, degradations, resolution and playbook: the
 * header, the summary, the divider, the "…and more" line, the buttons and the footer. An alert takes two.
 */
const ROOT_OTHER_BLOCKS = 6;
const ALERT_BLOCKS = 2;

/**
 * The alerts the root has room for within Slack's 50 blocks: a playbook's moves (two blocks) or many
 * degradations cost the last alerts shown, which the "…and more" line then counts.
 */
function alertsWithRoom(snapshot: IncidentSnapshot, withPlaybook: boolean): AlertRow[] {
  const others =
    ROOT_OTHER_BLOCKS +
    snapshot.degradations.length +
    (snapshot.incident.resolution ? 1 : 0) +
    (withPlaybook ? 2 : 0);
  const room = Math.floor((BLOCK_KIT_LIMITS.blocks - others) / ALERT_BLOCKS);
  return snapshot.alerts.slice(0, Math.max(0, room));
}

export function rootView(
  snapshot: IncidentSnapshot,
  knownServices: ReadonlySet<string> = new Set(),
  silencesConfigured = false,
  playbook?: PlaybookView,
): RootView {
  const total = snapshot.firing + snapshot.resolved;
  const service = snapshot.incident.commonLabels.service;
  const shownPlaybook = playbook && snapshot.incident.state === 'open' ? playbook : undefined;
  const alerts = alertsWithRoom(snapshot, shownPlaybook !== undefined);
  return {
    incident: incidentView(snapshot),
    degradations: snapshot.degradations.map((d) => ({
      service: d.service,
      enabledAt: d.enabledAt.toISOString(),
    })),
    ...(service && knownServices.has(service) && snapshot.incident.state === 'open'
      ? { healthService: service }
      : {}),
    firing: snapshot.firing,
    resolved: snapshot.resolved,
    alerts: alerts.map(alertView),
    moreAlerts: Math.max(0, total - alerts.length),
    truncatedAlerts: snapshot.incident.truncatedAlerts,
    partial: total > alerts.length || snapshot.incident.truncatedAlerts > 0,
    groupLabels: labelText(snapshot.incident.groupLabels, 1000),
    ...(snapshot.incident.externalUrl ? { alertmanagerUrl: snapshot.incident.externalUrl } : {}),
    ...acknowledgementView(snapshot.incident),
    ...(shownPlaybook ? { playbook: shownPlaybook } : {}),
    ...(snapshot.incident.silence ? { silence: silenceView(snapshot.incident) } : {}),
    ...(silencesConfigured && snapshot.incident.groupKey !== null
      ? { silenceButtons: silenceButtons(snapshot.incident) }
      : {}),
    ...(snapshot.incident.slackError
      ? {
          channelRefusal: {
            ...(snapshot.incident.refusedChannelId ? { channel: snapshot.incident.refusedChannelId } : {}),
            slackError: snapshot.incident.slackError,
          },
        }
      : {}),
  };
}

function acknowledgementView(incident: Incident): Pick<RootView, 'acknowledgement'> {
  if (incident.groupKey === null) return {};
  if (incident.acknowledgedBy && incident.acknowledgedAt)
    return { acknowledgement: { by: incident.acknowledgedBy, at: incident.acknowledgedAt.toISOString() } };
  return incident.state === 'open' ? { acknowledgement: 'waiting' } : {};
}

function silenceView(incident: Incident): RootView['silence'] {
  const silence = incident.silence!;
  const base = incident.externalUrl?.replace(/\/+$/, '');
  return {
    endsAt: silence.endsAt.toISOString(),
    by: silence.silencedBy,
    reason: truncateForMrkdwn(silence.reason, 500),
    // Alertmanager's own UI, where the silence can be read and edited.
    ...(base ? { url: `${base}/#/silences/${encodeURIComponent(silence.silenceId)}` } : {}),
  };
}

function silenceButtons(incident: Incident): RootView['silenceButtons'] {
  const resolved = incident.state === 'resolved';
  if (!incident.silence) return resolved ? {} : { silence: true };
  return resolved ? { unsilence: 'Expire silence' } : { extend: true, unsilence: 'Unsilence' };
}

const str = (value: unknown) => (typeof value === 'string' ? value : undefined);

/** How long after its resolution an incident_reopened entry reopened the incident. */
function sinceResolved(entry: TimelineEntry): number | undefined {
  const resolvedAt = Date.parse(str(entry.data.resolvedAt) ?? '');
  return Number.isNaN(resolvedAt) ? undefined : entry.createdAt.getTime() - resolvedAt;
}

/** A silence's matchers as recorded on the timeline: name=value, name=~regex, name!=value… */
function matcherText(matchers: unknown): string {
  if (!Array.isArray(matchers)) return '';
  return matchers.map((m: Record<string, unknown>) => `${m.name}${matcherOperator(m)}${m.value}`).join(', ');
}

const PAGE_EVENTS: Record<string, string> = {
  trigger: 'page',
  acknowledge: 'acknowledgement',
  resolve: 'resolution',
};

/** The pager and event a page entry names. */
function pageView(data: Record<string, unknown>): Pick<EventView, 'pager' | 'pageEvent' | 'pageTrigger'> {
  const action = str(data.action) ?? '';
  return {
    pager: truncateForMrkdwn(str(data.pager) ?? '', 100),
    pageEvent: PAGE_EVENTS[action] ?? action,
    pageTrigger: action === 'trigger',
  };
}

export function eventView(entry: TimelineEntry): EventView | undefined {
  const { data } = entry;
  const base = {
    at: entry.createdAt.toISOString(),
    byAlertmanager: entry.actor === ALERTMANAGER_ACTOR,
    ...(entry.actor !== ALERTMANAGER_ACTOR ? { actor: entry.actor } : {}),
  };
  switch (entry.kind) {
    case 'severity_changed':
      return { ...base, isSeverity: true, from: str(data.from), to: str(data.to) };
    case 'status_update':
      return {
        ...base,
        isUpdate: true,
        number: Number(data.number),
        ...(str(data.status) ? { status: STATUS_LABELS[str(data.status)!] } : {}),
        text: truncateForMrkdwn(str(data.text) ?? '', 2500),
        ...(str(data.nextUpdateAt) ? { nextUpdateAt: str(data.nextUpdateAt) } : {}),
      };
    case 'note':
      return { ...base, isNote: true, text: truncateForMrkdwn(str(data.text) ?? '', 2800) };
    case 'role_assigned':
      return {
        ...base,
        isRole: true,
        role: str(data.role),
        user: str(data.user),
        previous: str(data.previous),
      };
    case 'incident_resolved':
      return {
        ...base,
        isResolved: true,
        ...(str(data.resolution) ? { resolution: truncateForMrkdwn(str(data.resolution)!, 2500) } : {}),
        ...(typeof data.durationMs === 'number' ? { duration: formatDuration(data.durationMs) } : {}),
        // The skeleton is on its way (incidents.postmortemOnResolve): no hint to ask for one.
        ...(data.postmortemFollows === true ? { postmortemFollows: true } : {}),
      };
    case 'incident_acknowledged':
      return {
        ...base,
        isAcknowledged: true,
        ...(typeof data.afterMs === 'number' ? { duration: formatDuration(data.afterMs) } : {}),
      };
    case 'incident_escalated':
      return {
        ...base,
        isEscalated: true,
        notify: (Array.isArray(data.notify) ? data.notify : []).map((n) => truncateForMrkdwn(String(n), 100)),
        step: Number(data.step),
        steps: Number(data.steps),
        ...(typeof data.afterMs === 'number' && data.afterMs > 0
          ? { duration: formatDuration(data.afterMs) }
          : {}),
      };
    case 'page_sent':
      return { ...base, isPageSent: true, ...pageView(data) };
    case 'page_failed':
      return {
        ...base,
        isPageFailed: true,
        ...pageView(data),
        retrying: data.retrying === true,
        error: truncateForMrkdwn(str(data.error) ?? '', 300),
      };
    case 'page_recovered': {
      const since = Date.parse(str(data.failingSince) ?? '');
      return {
        ...base,
        isPageRecovered: true,
        ...pageView(data),
        failedAttempts: Number(data.failedAttempts),
        ...(Number.isNaN(since) ? {} : { duration: formatDuration(entry.createdAt.getTime() - since) }),
      };
    }
    case 'incident_reopened': {
      const since = sinceResolved(entry);
      return {
        ...base,
        isReopened: true,
        reopened: timesOpen(Number(data.reopenCount)),
        ...(since === undefined ? {} : { duration: formatDuration(since) }),
      };
    }
    case 'reminder':
      return {
        ...base,
        isReminder: true,
        commanderMissing: data.reminder === 'commander',
        ...(data.reminder === 'degradation' && str(data.service)
          ? { degradedService: str(data.service) }
          : {}),
        ...(str(data.commander) ? { commander: str(data.commander) } : {}),
      };
    case 'postmortem_generated':
      return { ...base, isPostmortem: true, revision: Number(data.revision) };
    case 'incident_silenced':
      return {
        ...base,
        isSilenced: true,
        endsAt: str(data.endsAt),
        text: truncateForMrkdwn(str(data.reason) ?? '', 600),
        matchers: truncateForMrkdwn(matcherText(data.matchers), 1500),
      };
    case 'silence_extended':
      return { ...base, isSilenceExtended: true, endsAt: str(data.endsAt) };
    case 'incident_unsilenced':
      return { ...base, isUnsilenced: true };
    case 'silence_ended':
      return { ...base, isSilenceEnded: true };
    default:
      return undefined;
  }
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
  // Alerts and events share one message: each alert list gets a quarter of the room, events the half.
  const quarter = Math.max(1, Math.floor(maxShown / 4));
  const events = entries.map(eventView).filter((e): e is EventView => e !== undefined);
  const eventRoom = Math.max(1, maxShown);
  return {
    incident: incidentView(snapshot),
    firing: firing.slice(0, quarter).map(alertView),
    firingCount: firing.length,
    firingMore: Math.max(0, firing.length - quarter),
    resolved: resolved.slice(0, quarter).map(alertView),
    resolvedCount: resolved.length,
    resolvedMore: Math.max(0, resolved.length - quarter),
    events: events.slice(-eventRoom),
    moreEvents: Math.max(0, events.length - eventRoom),
  };
}

/**
 * How many of `entries` (oldest first) one thread reply tells in full: it holds maxShown events, so a
 * longer run of notes, updates and changes is told over several replies rather than cut.
 */
export function entriesOneReplyHolds(entries: ReadonlyArray<TimelineEntry>, maxShown: number): number {
  const eventRoom = Math.max(1, maxShown);
  let events = 0;
  for (const [i, entry] of entries.entries()) {
    if (eventView(entry) !== undefined && ++events === eventRoom) return i + 1;
  }
  return entries.length;
}

/** Which timeline entries a thread reply tells; the rest stay in the record only. */
export const THREAD_KINDS: ReadonlySet<TimelineKind> = new Set<TimelineKind>([
  'alert_firing',
  'alert_resolved',
  'severity_changed',
  'status_update',
  'note',
  'role_assigned',
  'reminder',
  'postmortem_generated',
  'incident_silenced',
  'silence_extended',
  'incident_unsilenced',
  'silence_ended',
  'incident_escalated',
  'incident_acknowledged',
  'page_sent',
  'page_failed',
  'page_recovered',
  'incident_resolved',
  'incident_reopened',
]);

/** How many incidents /incident list shows, and timeline entries /incident timeline shows: one block each. */
export const LIST_LIMIT = 45;
export const TIMELINE_LIMIT = 45;

export interface ListView {
  incidents: Array<{
    ref: string;
    severity: Severity;
    title: string;
    status: string;
    channelId?: string;
    commander?: string;
    createdAt: string;
  }>;
  total: number;
  more: number;
}

export function listView(incidents: OpenIncidentSummary[], total: number): ListView {
  return {
    incidents: incidents.map((i) => ({
      ref: incidentRef(i.id),
      severity: i.severity,
      title: truncateForMrkdwn(i.title, 300),
      status: STATUS_LABELS[i.status] ?? i.status,
      ...(i.channelId ? { channelId: i.channelId } : {}),
      ...(i.commander ? { commander: i.commander } : {}),
      createdAt: i.createdAt.toISOString(),
    })),
    total,
    more: Math.max(0, total - incidents.length),
  };
}

const KIND_LABELS: Record<string, string> = {
  incident_opened: 'Opened by Alertmanager',
  incident_declared: 'Declared',
  alert_firing: 'Alert firing',
  alert_resolved: 'Alert resolved',
  severity_changed: 'Severity changed',
  status_update: 'Status update',
  role_assigned: 'Role assigned',
  note: 'Note',
  reminder: 'Reminder',
  postmortem_generated: 'Post-mortem generated',
  incident_silenced: 'Silenced',
  silence_extended: 'Silence extended',
  incident_unsilenced: 'Unsilenced',
  silence_ended: 'Silence ended',
  incident_escalated: 'Escalated',
  incident_acknowledged: 'Acknowledged',
  page_requested: 'Page requested',
  page_sent: 'Page sent',
  page_failed: 'Page failed',
  page_recovered: 'Page recovered',
  incident_resolved: 'Resolved',
  incident_reopened: 'Reopened',
};

/** One line of plain words for any timeline entry, including kinds added later. */
export function describeEntry(entry: TimelineEntry): string {
  const d = entry.data;
  switch (entry.kind) {
    case 'alert_firing':
    case 'alert_resolved':
      return String(d.alertname ?? '');
    case 'severity_changed':
      return `${d.from} → ${d.to}`;
    case 'status_update':
      return `#${d.number}${d.status ? ` ${STATUS_LABELS[String(d.status)] ?? d.status}` : ''}: ${d.text ?? ''}`;
    case 'role_assigned':
      return `${d.role}: ${d.user}`;
    case 'note':
      return String(d.text ?? '');
    case 'reminder':
      return d.reminder === 'commander' ? 'no commander yet' : 'status update overdue';
    case 'incident_resolved':
      return String(d.resolution ?? 'all alerts resolved');
    case 'incident_reopened': {
      const since = sinceResolved(entry);
      return `open the ${timesOpen(Number(d.reopenCount))} time${since === undefined ? '' : `, ${formatDuration(since)} after its resolution`}`;
    }
    case 'postmortem_generated':
      return `revision ${d.revision}`;
    case 'incident_declared':
      return `${d.severity} ${d.title}`;
    case 'incident_silenced':
      return `until ${d.endsAt}: ${d.reason ?? ''} (${matcherText(d.matchers)})`;
    case 'silence_extended':
      return `until ${d.endsAt}`;
    case 'incident_acknowledged':
      return typeof d.afterMs === 'number' ? `after ${formatDuration(d.afterMs)}` : '';
    case 'incident_escalated':
      return `step ${d.step} of ${d.steps} (${d.policy}): ${Array.isArray(d.notify) ? d.notify.join(', ') : ''}${d.page ? `; page ${d.page}` : ''}`;
    case 'page_requested':
      return `${d.pager}, by escalation step ${d.step}`;
    case 'page_sent':
      return `${d.pager}: ${d.action}`;
    case 'page_failed':
      return `${d.pager}: ${d.action} ${d.retrying ? 'failed, retrying' : 'refused'}: ${d.error}`;
    case 'page_recovered':
      return `${d.pager}: ${d.action}, after ${d.failedAttempts} failed tries`;
    default:
      return Object.entries(d)
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(', ');
  }
}

export interface TimelineView {
  incident: IncidentView;
  /** `typedSummary`: the summary is what a person typed, shown with its mentions and links (`{{typed}}`). */
  entries: Array<{ at: string; kind: string; actor: string; summary: string; typedSummary?: true }>;
  earlier: number;
}

// The entries whose description is a person's text, with only the bot's plain words around it.
const TYPED_KINDS: ReadonlySet<string> = new Set(['note', 'status_update', 'incident_resolved']);

export function timelineView(
  snapshot: IncidentSnapshot,
  entries: TimelineEntry[],
  total: number,
): TimelineView {
  return {
    incident: incidentView(snapshot),
    entries: entries.map((e) => ({
      at: e.createdAt.toISOString(),
      kind: KIND_LABELS[e.kind] ?? e.kind.replace(/_/g, ' '),
      actor: e.actor,
      summary: truncateForMrkdwn(describeEntry(e), 400),
      ...(TYPED_KINDS.has(e.kind) ? { typedSummary: true as const } : {}),
    })),
    earlier: Math.max(0, total - entries.length),
  };
}
