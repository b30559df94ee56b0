import { formatDuration } from '../primitives/duration.js';
import { incidentRef } from '../primitives/ids.js';
import { BLOCK_KIT_LIMITS } from '../render/blockKit.js';
import { escapeMrkdwn, truncateForMrkdwn, visibleText } from '../render/mrkdwn.js';

const ICON = { ok: '✅', warn: '⚠️', fail: '❌' };
/** Worst first. */
const CONCERN = { fail: 0, warn: 1, ok: 2 };

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
  /** The services left out of a message that cannot hold them all, by status: `/health <service>` shows one. */
  moreServices?: { count: number; byStatus: string };
}

/** Checks shown per message: one block each, within Slack's 50. */
export const MAX_CHECKS_SHOWN = 40;
/**
 * Blocks the services may take: all but the first line, the one shown only to who asked, and the one that
 * counts the services left out.
 */
const SERVICE_BLOCKS = BLOCK_KIT_LIMITS.blocks - 3;
/**
 * Characters the first line may give to the services' names (an icon, the name in bold, a comma each):
 * what is left of a section's 3,000 once the rest of it (who asked, the playbook's name) is at its longest.
 */
const SERVICE_NAMES_CHARS = BLOCK_KIT_LIMITS.sectionText - 400;

/** Who ran the checks: a person, or an incident's playbook (covered: in another incident's thread). */
export type CheckRunner =
  | { user: string }
  | { playbook: string; covered?: { service: string; incidentId: number; at: Date; oncePerMs: number } };

export function healthView(
  by: CheckRunner,
  health: Array<{ service: string; result: ServiceHealth }>,
  incidentId?: number,
): HealthView {
  let checksRoom = MAX_CHECKS_SHOWN;
  let blocksRoom = SERVICE_BLOCKS;
  let namesRoom = SERVICE_NAMES_CHARS;
  // Shown in the order they ran, but given room worst first: a failure is never among those only counted.
  const byConcern = health
    .map((ran, order) => ({ ...ran, order }))
    .sort((a, b) => CONCERN[a.result.status] - CONCERN[b.result.status] || a.order - b.order);
  const shown: Array<{ order: number; view: HealthView['services'][number] }> = [];
  const leftOut: Array<ServiceHealth['status']> = [];
  for (const { service, result, order } of byConcern) {
    // Each service shown takes a block at least (its first check, its "…and N more", or "no checks").
    const nameChars = escapeMrkdwn(service).length + 8;
    if (leftOut.length > 0 || blocksRoom < 1 || namesRoom < nameChars) {
      leftOut.push(result.status);
      continue;
    }
    namesRoom -= nameChars;
    let checks = result.results.slice(0, Math.min(checksRoom, blocksRoom));
    // Room kept for its "…and N more checks".
    if (checks.length < result.results.length && checks.length === blocksRoom) checks = checks.slice(0, -1);
    checksRoom -= checks.length;
    const more = result.results.length - checks.length;
    blocksRoom -= Math.max(1, checks.length + (more > 0 ? 1 : 0));
    shown.push({
      order,
      view: {
        name: service,
        icon: ICON[result.status],
        noChecks: result.results.length === 0,
        checks: checks.map((check: CheckResult) => ({
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
        more,
      },
    });
  }
  const services = shown.sort((a, b) => a.order - b.order).map(({ view }) => view);
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
    services,
    ...(leftOut.length > 0
      ? { moreServices: { count: leftOut.length, byStatus: countByStatus(leftOut) } }
      : {}),
  };
}

/** "2 ❌ · 9 ✅": the worst first. */
function countByStatus(statuses: Array<ServiceHealth['status']>): string {
  return (['fail', 'warn', 'ok'] as const)
    .map((status) => [statuses.filter((s) => s === status).length, ICON[status]] as const)
    .filter(([count]) => count > 0)
    .map(([count, icon]) => `${count} ${icon}`)
    .join(' · ');
}

/**
 * Told to who asked when their result cannot be shown (a template override that breaks on it, a fault of
 * the bot's): plain text, not a template, since the template may be what fails.
 */
export function healthNotShownText(services: string[], error: string): string {
  const asked = escapeMrkdwn(truncateForMrkdwn(services.join(', '), 300));
  const why = escapeMrkdwn(truncateForMrkdwn(visibleText(error), 500));
  return `The result of the health checks you asked for (${asked}) could not be shown: ${why}. The bot has given it up and logged why; ask again once that is fixed.`;
}
