import { DAY_MS, spokenDuration } from '../primitives/duration.js';
import { incidentRef } from '../primitives/ids.js';
import type { Severity } from '../primitives/severity.js';
import { truncateForMrkdwn } from '../render/mrkdwn.js';

/** Median and 90th percentile of some durations, in seconds, and how many there were. */
export interface Durations {
  count: number;
  median: number | null;
  p90: number | null;
}

export interface SeverityStats {
  /** Undefined for the line that sums every severity. */
  severity?: Severity;
  incidents: number;
  open: number;
  toAcknowledge: Durations;
  toResolve: Durations;
}

export interface IncidentStats {
  /** The line for all severities first, then one per severity that had incidents, P0 first. */
  bySeverity: SeverityStats[];
  /** The alertnames that opened the most of the period's incidents, most first. */
  topAlerts: Array<{ alertname: string; incidents: number }>;
  /** Open now, longest open first; `openTotal` counts them all. */
  longestOpen: Array<{
    id: number;
    severity: Severity;
    title: string;
    openedAt: Date;
    acknowledgedBy: string | null;
  }>;
  openTotal: number;
}

/** How many alerts, and open incidents, /incident stats names: one line each. */
export const STATS_LIST_LIMIT = 5;

/** The view of `incident-stats`: /incident stats, shown only to the person who asked. */
export interface StatsView {
  days: number;
  since: Date;
  /** Incidents in the period, every severity. */
  total: number;
  /** The line for all severities, then one per severity that had incidents. */
  lines: Array<{
    label: string;
    incidents: number;
    open: number;
    toAcknowledge?: { median: string; p90: string; count: number };
    toResolve?: { median: string; p90: string; count: number };
  }>;
  topAlerts: Array<{ alertname: string; incidents: number }>;
  longestOpen: Array<{
    ref: string;
    severity: Severity;
    title: string;
    openedAt: Date;
    openFor: string;
    acknowledgedBy?: string;
  }>;
  moreOpen: number;
}

function spokenDurations(d: Durations): StatsView['lines'][number]['toResolve'] {
  if (d.count === 0 || d.median === null || d.p90 === null) return undefined;
  return { median: spokenDuration(d.median * 1000), p90: spokenDuration(d.p90 * 1000), count: d.count };
}

export function statsView(stats: IncidentStats, days: number, now = new Date()): StatsView {
  return {
    days,
    since: new Date(now.getTime() - days * DAY_MS),
    total: stats.bySeverity[0]?.incidents ?? 0,
    lines: stats.bySeverity.map((line) => {
      const toAcknowledge = spokenDurations(line.toAcknowledge);
      const toResolve = spokenDurations(line.toResolve);
      return {
        label: line.severity ?? 'All',
        incidents: line.incidents,
        open: line.open,
        ...(toAcknowledge ? { toAcknowledge } : {}),
        ...(toResolve ? { toResolve } : {}),
      };
    }),
    topAlerts: stats.topAlerts.map((a) => ({
      alertname: truncateForMrkdwn(a.alertname || '(no alertname)', 200),
      incidents: a.incidents,
    })),
    longestOpen: stats.longestOpen.map((i) => ({
      ref: incidentRef(i.id),
      severity: i.severity,
      title: truncateForMrkdwn(i.title, 200),
      openedAt: i.openedAt,
      openFor: spokenDuration(now.getTime() - i.openedAt.getTime()),
      ...(i.acknowledgedBy ? { acknowledgedBy: i.acknowledgedBy } : {}),
    })),
    moreOpen: Math.max(0, stats.openTotal - stats.longestOpen.length),
  };
}
