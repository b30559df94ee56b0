/** The runbooks' severity levels, P0 (production down) to P4 (cosmetic). */
export const SEVERITIES = ['P0', 'P1', 'P2', 'P3', 'P4'] as const;
export type Severity = (typeof SEVERITIES)[number];

/** The more urgent of two levels (P0 beats P1). */
export function mostUrgent(a: Severity, b: Severity): Severity {
  return a < b ? a : b;
}
