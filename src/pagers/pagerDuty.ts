import type { Severity } from '../primitives/severity.js';
import { plural, truncate } from '../primitives/text.js';
import { postJson } from './httpPost.js';
import type { PageEvent, Pager } from './pager.js';

/** PagerDuty's Events API v2; PAGERDUTY_EVENTS_URL points elsewhere (a test's stand-in). */
export const PAGERDUTY_EVENTS_URL = 'https://events.pagerduty.com/v2/enqueue';

// PagerDuty's limit on a summary.
const MAX_SUMMARY = 1024;

// PagerDuty refuses an event over 512 KB ("Size Limits", Events API v2 overview) with a 400, which is not
// retried: an incident whose alerts carry labels that large would never be paged. Every part of an event
// that comes from alerts is bounded so that a whole event stays far below that: the summary and source at
// 1024 characters each (6 KB at most as JSON), the link at 2048, and the labels at 64 KiB.
const MAX_SOURCE = 1024;
const MAX_CLIENT_URL = 2048;
const MAX_LABEL_VALUE = 1024;
const MAX_LABELS_BYTES = 64 * 1024;

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
              summary: truncate(summary, MAX_SUMMARY),
              source: truncate(
                incident.labels.service ?? incident.labels.instance ?? 'incident-bot',
                MAX_SOURCE,
              ),
              severity: PAGERDUTY_SEVERITY[incident.severity],
              timestamp: event.sentAt.toISOString(),
              custom_details: {
                incident: incident.ref,
                severity: incident.severity,
                status: incident.status,
                ...boundedLabels(incident.labels),
              },
            },
            client: 'incident-bot',
            // A link cut short leads somewhere else.
            ...(incident.url && incident.url.length <= MAX_CLIENT_URL ? { client_url: incident.url } : {}),
          };
    await postJson(this.eventsUrl, JSON.stringify(body), {}, this.routingKey);
  }
}

const jsonBytes = (text: string) => Buffer.byteLength(JSON.stringify(text));

/**
 * The labels, each value cut at MAX_LABEL_VALUE, in their order for as long as they fit in
 * MAX_LABELS_BYTES (one that does not is left out, and the next tried), and what was left out or cut.
 */
function boundedLabels(labels: Record<string, string>): {
  labels: Record<string, string>;
  labels_truncated?: string;
} {
  // Entries, not assignments: a label named __proto__ is a label like any other.
  const kept: Array<[string, string]> = [];
  let bytes = 2;
  let cut = 0;
  let left = 0;
  for (const [name, value] of Object.entries(labels)) {
    const shown = truncate(value, MAX_LABEL_VALUE);
    // The name, its value, the colon and the comma.
    const size = jsonBytes(name) + jsonBytes(shown) + 2;
    if (bytes + size > MAX_LABELS_BYTES) {
      left++;
      continue;
    }
    kept.push([name, shown]);
    bytes += size;
    if (shown !== value) cut++;
  }
  if (left === 0 && cut === 0) return { labels: Object.fromEntries(kept) };
  const what = [
    ...(left > 0 ? [`${left} of ${Object.keys(labels).length} labels left out`] : []),
    ...(cut > 0 ? [`${plural(cut, 'value')} cut at ${MAX_LABEL_VALUE} characters`] : []),
  ];
  return {
    labels: Object.fromEntries(kept),
    labels_truncated: `${what.join(' and ')}, to keep the event within PagerDuty's 512 KB`,
  };
}
