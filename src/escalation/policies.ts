import { matches } from '../alerts/matchers.js';
import { ownValue } from '../primitives/records.js';
import type { Severity } from '../primitives/severity.js';
import type { EscalationConfig, EscalationPolicy } from './configSchema.js';

/**
 * Whether any incident can escalate: an escalation route or a severity names a policy. Without one, an
 * opening has no step to schedule.
 */
export function anyEscalation(config: { escalation: EscalationConfig }): boolean {
  const { routes, severities } = config.escalation;
  return routes.length > 0 || Object.values(severities).some((name) => name !== undefined);
}

/**
 * The policy that escalates an incident: the first escalation route whose matchers all match its labels
 * (common labels, group labels winning, as alert routes read them), else its severity's. Read when a step
 * is due, so a severity raised since it opened brings that severity's policy.
 */
export function policyFor(
  config: { escalation: EscalationConfig },
  incident: {
    severity: Severity;
    commonLabels: Readonly<Record<string, string>>;
    groupLabels: Readonly<Record<string, string>>;
  },
): { name: string; policy: EscalationPolicy } | undefined {
  const { escalation } = config;
  const labels = { ...incident.commonLabels, ...incident.groupLabels };
  const route = escalation.routes.find((r) => r.matchers.every((m) => matches(m, labels)));
  const name = route?.policy ?? escalation.severities[incident.severity];
  const policy = name === undefined ? undefined : ownValue(escalation.policies, name);
  return name !== undefined && policy ? { name, policy } : undefined;
}
