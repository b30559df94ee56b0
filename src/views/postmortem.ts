import { formatDuration } from '../primitives/duration.js';
import { ALERTMANAGER_ACTOR, incidentRef } from '../primitives/ids.js';
import type { Role } from '../primitives/role.js';
import type { Severity } from '../primitives/severity.js';
import type { TimelineKind } from '../primitives/timelineKind.js';
import { typedAsPlain } from '../render/mrkdwn.js';
import { describeEntry, type Incident, type TimelineEntry } from './incident.js';

/**
 * The post-mortem skeleton: a Markdown document drafted from the incident's own record (summary and
 * timeline), under the runbook's Post-Mortem Template headings, with prompts where only people know.
 */

export const POSTMORTEM_TEMPLATE = 'postmortem.md';

export interface PostmortemData {
  incident: Pick<
    Incident,
    | 'id'
    | 'title'
    | 'severity'
    | 'state'
    | 'status'
    | 'impact'
    | 'affected'
    | 'resolution'
    | 'createdAt'
    | 'resolvedAt'
    | 'declaredBy'
    | 'groupKey'
  >;
  roles: Array<{ role: Role; userId: string }>;
  /** The incident's alerts by name, the first to fire first. */
  alerts: Array<{ alertname: string; startsAt: Date; instances: number }>;
  /** Every entry, oldest first, of whatever kind: entries of kinds added later are told too. */
  timeline: TimelineEntry[];
}

export interface PostmortemTimelineItem {
  time: string;
  event: string;
  actor?: string;
  detail?: string;
}

/** Raw text throughout: the template decides where a value must stay on one line. */
export interface PostmortemView {
  ref: string;
  title: string;
  severity: Severity;
  status: string;
  startedAt: string;
  resolvedAt?: string;
  duration: string;
  impact?: string;
  affected?: string;
  resolution?: string;
  openedBy: string;
  alertGroup?: string;
  commander?: string;
  otherRoles: Array<{ role: string; user: string }>;
  alerts: Array<{ name: string; instances: number; since: string }>;
  moreAlerts: number;
  statusUpdates: number;
  timeline: PostmortemTimelineItem[];
}

const MAX_ALERT_NAMES = 10;
const MAX_DATA_VALUE = 100;

/** 'YYYY-MM-DD HH:MM UTC': a document is read in many time zones, so it names one. */
function utc(time: Date | string): string {
  return `${new Date(time).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

const capitalize = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** People's names by Slack user id, as far as they could be read. */
export type PeopleNames = Pick<ReadonlyMap<string, string>, 'get'>;

/** Slack user ids become the person's name, or `@U123` without one; the bot's own actors keep theirs. */
function actorName(actor: string, names: PeopleNames): string {
  if (actor === ALERTMANAGER_ACTOR) return 'Alertmanager';
  if (!/^[UW][A-Z0-9]{2,}$/.test(actor)) return actor;
  return names.get(actor) ?? `@${actor}`;
}

const str = (value: unknown) => (typeof value === 'string' ? value : undefined);

/** What a person typed (a note, an update, a resolution), with names for Slack's markup in it. */
const typed = (text: string, names: PeopleNames) => typedAsPlain(text, (id) => names.get(id));

/** `approvedBy: U2` → `approved by @U2`, `outcome: ok` → `outcome: ok`; nested values are left out. */
function dataSummary(data: Record<string, unknown>, names: PeopleNames): string | undefined {
  const parts = Object.entries(data).flatMap(([key, value]) => {
    if (!['string', 'number', 'boolean'].includes(typeof value)) return [];
    const words = key
      .replace(/([a-z])([A-Z])/g, '$1 $2')
      .replace(/_/g, ' ')
      .toLowerCase();
    let text = String(value);
    if (text.length > MAX_DATA_VALUE) text = `${text.slice(0, MAX_DATA_VALUE - 1)}…`;
    return /(^| )by$/.test(words) ? [`${words} ${actorName(text, names)}`] : [`${words}: ${text}`];
  });
  return parts.length > 0 ? parts.join(', ') : undefined;
}

function entryItem(entry: TimelineEntry, names: PeopleNames): PostmortemTimelineItem {
  const { data } = entry;
  const item = (event: string, detail?: string) => ({
    time: utc(entry.createdAt),
    event,
    actor: actorName(entry.actor, names),
    ...(detail ? { detail } : {}),
  });
  switch (entry.kind) {
    case 'incident_opened':
      return item('Incident opened', `severity ${data.severity}`);
    case 'incident_declared':
      return item('Incident declared', `${data.severity}: ${data.title}`);
    case 'severity_changed':
      return item('Severity changed', `${data.from} → ${data.to}`);
    case 'status_update': {
      const text = typed(str(data.text) ?? '', names);
      const status = str(data.status);
      return item(`Status update #${data.number}`, status ? `${capitalize(status)} — ${text}` : text);
    }
    case 'role_assigned': {
      const previous = str(data.previous);
      const detail = `${actorName(String(data.user), names)}${previous ? ` (replacing ${actorName(previous, names)})` : ''}`;
      return item(`${capitalize(String(data.role))} assigned`, detail);
    }
    case 'note':
      return item('Note', typed(str(data.text) ?? '', names));
    case 'reminder': {
      const due = str(data.dueAt);
      if (data.reminder === 'update') {
        return item('Reminder', due ? `status update due at ${utc(due)}` : 'status update due');
      }
      if (data.reminder === 'commander') return item('Reminder', 'no commander assigned');
      return item('Reminder', dataSummary(data, names));
    }
    case 'incident_resolved': {
      const resolution = str(data.resolution);
      return item(
        'Incident resolved',
        resolution !== undefined
          ? typed(resolution, names)
          : entry.actor === ALERTMANAGER_ACTOR
            ? 'all alerts resolved'
            : undefined,
      );
    }
    case 'incident_reopened':
      return item('Incident reopened', describeEntry(entry));
    default:
      // health_check, action_* and whatever comes later: told from their data, generically.
      return item(capitalize(entry.kind.replace(/_/g, ' ')), dataSummary(data, names));
  }
}

const ALERT_KINDS: Partial<Record<TimelineKind, string>> = {
  alert_firing: 'fired',
  alert_resolved: 'resolved',
};

/** The alerts of one delivery, told in one line: `2 alerts fired: HighErrorRate ×2`. */
function alertsItem(entries: TimelineEntry[]): PostmortemTimelineItem {
  const counts = new Map<string, number>();
  for (const e of entries) {
    const name = str(e.data.alertname) || '(no alertname)';
    counts.set(name, (counts.get(name) ?? 0) + 1);
  }
  const verb = ALERT_KINDS[entries[0]!.kind];
  return {
    time: utc(entries[0]!.createdAt),
    event: entries.length === 1 ? `Alert ${verb}` : `${entries.length} alerts ${verb}`,
    detail: [...counts].map(([name, n]) => (n === 1 ? name : `${name} ×${n}`)).join(', '),
  };
}

/**
 * Entries from one delivery share a kind and a timestamp (one transaction's now()): grouped, so that a
 * delivery of 500 alerts is one line, not 500.
 */
function groupDeliveries(entries: TimelineEntry[]): TimelineEntry[][] {
  const groups: TimelineEntry[][] = [];
  for (const entry of entries) {
    const group = groups.at(-1);
    const head = group?.[0];
    if (
      group &&
      head &&
      entry.kind in ALERT_KINDS &&
      entry.kind === head.kind &&
      entry.createdAt.getTime() === head.createdAt.getTime()
    ) {
      group.push(entry);
    } else {
      groups.push([entry]);
    }
  }
  return groups;
}

function timelineItems(data: PostmortemData, names: PeopleNames): PostmortemTimelineItem[] {
  const items: PostmortemTimelineItem[] = [];
  const first = data.alerts[0];
  if (first) {
    const names = data.alerts.filter((a) => a.startsAt.getTime() === first.startsAt.getTime());
    items.push({
      time: utc(first.startsAt),
      event: 'First alert fired',
      detail: names.map((a) => a.alertname).join(', '),
    });
  }
  // Generating the document is not part of the incident.
  const told = data.timeline.filter((e) => e.kind !== 'postmortem_generated');
  for (const group of groupDeliveries(told)) {
    items.push(group[0]!.kind in ALERT_KINDS ? alertsItem(group) : entryItem(group[0]!, names));
  }
  return items;
}

/** `names`: people by Slack user id (see peopleIn); anyone it does not name is shown by id. */
export function buildPostmortemView(data: PostmortemData, names: PeopleNames = new Map()): PostmortemView {
  const { incident } = data;
  const commander = data.roles.find((r) => r.role === 'commander');
  return {
    ref: incidentRef(incident.id),
    title: incident.title,
    severity: incident.severity,
    status: capitalize(incident.state === 'resolved' ? 'resolved' : incident.status),
    startedAt: utc(incident.createdAt),
    ...(incident.resolvedAt ? { resolvedAt: utc(incident.resolvedAt) } : {}),
    duration: incident.resolvedAt
      ? formatDuration(incident.resolvedAt.getTime() - incident.createdAt.getTime())
      : 'still open',
    ...(incident.impact ? { impact: typed(incident.impact, names) } : {}),
    ...(incident.affected ? { affected: typed(incident.affected, names) } : {}),
    ...(incident.resolution ? { resolution: typed(incident.resolution, names) } : {}),
    openedBy: incident.declaredBy ? actorName(incident.declaredBy, names) : 'Alertmanager',
    ...(incident.groupKey ? { alertGroup: incident.groupKey } : {}),
    ...(commander ? { commander: actorName(commander.userId, names) } : {}),
    otherRoles: data.roles
      .filter((r) => r.role !== 'commander')
      .map((r) => ({ role: capitalize(r.role), user: actorName(r.userId, names) })),
    alerts: data.alerts.slice(0, MAX_ALERT_NAMES).map((a) => ({
      name: a.alertname || '(no alertname)',
      instances: a.instances,
      since: utc(a.startsAt),
    })),
    moreAlerts: Math.max(0, data.alerts.length - MAX_ALERT_NAMES),
    statusUpdates: data.timeline.filter((e) => e.kind === 'status_update').length,
    timeline: timelineItems(data, names),
  };
}

/** The Slack user ids the document would show: the people whose names it needs. */
export function peopleIn(data: PostmortemData): string[] {
  const ids = new Set<string>();
  buildPostmortemView(data, {
    get: (id) => {
      ids.add(id);
      return undefined;
    },
  });
  return [...ids];
}
