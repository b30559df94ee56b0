import type { Severity } from '../primitives/severity.js';
import { postJson } from './httpPost.js';
import type { PageEvent, Pager } from './pager.js';

/** PagerDuty's Events API v2; PAGERDUTY_EVENTS_URL points elsewhere (a test's stand-in). */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

// PagerDuty's limit on a summary.
const MAX_SUMMARY = 1024;

/** The runbooks' levels as PagerDuty's: P0 and P1 wake someone up, P4 is cosmetic. */
const PAGERDUTY_SEVERITY: Record<Severity, 'critical' | 'error' | 'warning' | 'info'> = {
  P0: 'critical',
  P1: 'critical',
  P2: 'error',
  P3: 'warning',
  P4: 'info',
};

/**
 * Pages through a PagerDuty service's Events API v2 integration. Every event of an incident carries the
 * same dedup_key: PagerDuty folds a repeated trigger into the open alert, and acknowledge and resolve
 * stop the one the trigger opened.
 */
export class PagerDutyPager implements Pager {
  readonly kind = 'PagerDuty';

  constructor(
    private readonly routingKey: string,
    private readonly eventsUrl: string,
  ) {}

  async send(event: PageEvent): Promise<void> {
    const base = { routing_key: this.routingKey, event_action: event.action, dedup_key: event.dedupKey };
    const { incident } = event;
    const summary = `${incident.ref} [${incident.severity}] ${incident.title}`;
    const body =
      event.action !== 'trigger'
        ? base
        : {
            ...base,
            payload: {
              summary: summary.length > MAX_SUMMARY ? `${summary.slice(0, MAX_SUMMARY - 1)}…` : summary,
              source: incident.labels.service ?? incident.labels.instance ?? 'incident-bot',
              severity: PAGERDUTY_SEVERITY[incident.severity],
              timestamp: event.sentAt.toISOString(),
              custom_details: {
                incident: incident.ref,
                severity: incident.severity,
                status: incident.status,
                labels: incident.labels,
              },
            },
            client: 'incident-bot',
            ...(incident.url ? { client_url: incident.url } : {}),
          };
    await postJson(this.eventsUrl, JSON.stringify(body), {}, this.routingKey);
  }
}
