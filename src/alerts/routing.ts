import { ownValue } from '../primitives/records.js';
import { mostUrgent, type Severity } from '../primitives/severity.js';
import type { SlackConfig } from '../slack/configSchema.js';
import type { AlertsConfig, Route } from './configSchema.js';
import { matches } from './matchers.js';

/** The parts of the config that decide an alert group's severity and channel. */
export interface AlertRouting {
  slack: Pick<SlackConfig, 'defaultChannel'>;
  alerts: AlertsConfig;
  routes: readonly Route[];
}

/** The channel of the first route whose matchers all match the group's labels; else the default. */
export function routeChannel(
  config: Pick<AlertRouting, 'slack' | 'routes'>,
  labels: Readonly<Record<string, string>>,
): string {
  const route = config.routes.find((r) => r.matchers.every((m) => matches(m, labels)));
  return route?.channel ?? config.slack.defaultChannel;
}

/** The channel a notification's group goes to: routed on its common labels, group labels winning. */
export function groupChannel(
  config: Pick<AlertRouting, 'slack' | 'routes'>,
  group: { commonLabels: Readonly<Record<string, string>>; groupLabels: Readonly<Record<string, string>> },
): string {
  return routeChannel(config, { ...group.commonLabels, ...group.groupLabels });
}

export function alertSeverity(
  config: Pick<AlertRouting, 'alerts'>,
  labels: Readonly<Record<string, string>>,
): Severity {
  // Label names and values come from outside: `constructor` must not find Object.prototype's.
  const value = ownValue(labels, config.alerts.severityLabel);
  const mapped = value === undefined ? undefined : ownValue(config.alerts.severities, value);
  return mapped ?? config.alerts.defaultSeverity;
}

export function groupSeverity(
  config: Pick<AlertRouting, 'alerts'>,
  alerts: ReadonlyArray<{ labels: Record<string, string> }>,
): Severity {
  return alerts.map((a) => alertSeverity(config, a.labels)).reduce(mostUrgent, 'P4');
}
