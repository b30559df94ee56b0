import { formatDuration } from '../primitives/duration.js';
import { incidentRef } from '../primitives/ids.js';
import { truncateForMrkdwn } from '../render/mrkdwn.js';

const ICON = { ok: '✅', warn: '⚠️', fail: '❌' };

/** One check's outcome as the message lists it; a status without an icon here does not fit. */
export interface CheckResult {
  name: string;
  kind: string;
  status: keyof typeof ICON;
  latencyMs: number;
  detail: string;
  facts: Array<{ label: string; value: string }>;
  link?: { url: string; text: string };
}

/** A service's overall status and its checks' outcomes, in the order they ran. */
export interface ServiceHealth {
  status: keyof typeof ICON;
  results: CheckResult[];
}

export interface HealthView {
  /** Who asked; left out when a playbook ran them by itself as the incident opened. */
  requestedBy?: string;
  /** The playbook that ran them by itself. */
  playbook?: string;
  /** Not run again: they ran this lately for another incident of the storm, whose thread has them. */
  covered?: { service: string; incidentRef: string; at: string; oncePer: string };
  /** The incident they were run for. */
  incidentRef?: string;
  /** Shown only to who asked, while the message for everyone waits for Slack's budget in the channel. */
  askerOnly?: boolean;
  services: Array<{
    name: string;
    icon: string;
    noChecks: boolean;
    checks: Array<{
      name: string;
      kind: string;
      icon: string;
      latencyMs: number;
      detail: string;
      facts: string;
      /** Where to look further (a Prometheus check's graph); the `link` helper keeps it safe. */
      linkUrl?: string;
      linkText?: string;
    }>;
    more: number;
  }>;
}

/** Checks shown per message: one block each, within Slack's 50. */
export const MAX_CHECKS_SHOWN = 40;

/** Who ran the checks: a person, or an incident's playbook (covered: in another incident's thread). */
export type CheckRunner =
  | { user: string }
  | { playbook: string; covered?: { service: string; incidentId: number; at: Date; oncePerMs: number } };

export function healthView(
  by: CheckRunner,
  health: Array<{ service: string; result: ServiceHealth }>,
  incidentId?: number,
): HealthView {
  let room = MAX_CHECKS_SHOWN;
  return {
    ...('user' in by ? { requestedBy: by.user } : { playbook: truncateForMrkdwn(by.playbook, 100) }),
    ...('covered' in by && by.covered
      ? {
          covered: {
            service: by.covered.service,
            incidentRef: incidentRef(by.covered.incidentId),
            at: by.covered.at.toISOString(),
            oncePer: formatDuration(by.covered.oncePerMs),
          },
        }
      : {}),
    ...(incidentId !== undefined ? { incidentRef: incidentRef(incidentId) } : {}),
    services: health.map(({ service, result }) => {
      const shown = result.results.slice(0, Math.max(0, room));
      room -= shown.length;
      return {
        name: service,
        icon: ICON[result.status],
        noChecks: result.results.length === 0,
        checks: shown.map((check: CheckResult) => ({
          name: truncateForMrkdwn(check.name, 150),
          kind: check.kind,
          icon: ICON[check.status],
          latencyMs: Math.round(check.latencyMs),
          detail: truncateForMrkdwn(check.detail, 600),
          facts: truncateForMrkdwn(check.facts.map((f) => `${f.label}: ${f.value}`).join(' · '), 1200),
          ...(check.link
            ? { linkUrl: check.link.url, linkText: truncateForMrkdwn(check.link.text, 100) }
            : {}),
        })),
        more: result.results.length - shown.length,
      };
    }),
  };
}
