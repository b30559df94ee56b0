import { describe, expect, it } from 'vitest';
import type { TimelineEntry } from '../../src/incidents/timeline.js';
import { TemplateSet } from '../../src/render/templates.js';
import { threadView, timelineView } from '../../src/views/incident.js';
import { incidentRow } from '../support/incidents.js';

const snapshot = { incident: incidentRow(), roles: {}, degradations: [], alerts: [], firing: 0, resolved: 0 };
const at = new Date('2026-01-01T00:10:00Z');
const page = (
  kind: TimelineEntry['kind'],
  data: Record<string, unknown>,
): TimelineEntry & { id: number } => ({
  id: 1,
  kind,
  actor: 'paging',
  data,
  createdAt: at,
});

/** The thread reply's text for these entries. */
async function threadText(entries: TimelineEntry[]): Promise<string> {
  const templates = await TemplateSet.load();
  const message = templates.renderMessage('incident-thread', threadView(snapshot, entries, [], 10));
  return JSON.stringify(message.blocks);
}

describe('page events in the thread', () => {
  it('tells a page sent, each event in words', async () => {
    const text = await threadText([
      page('page_sent', { pager: 'oncall-pagerduty', action: 'trigger' }),
      page('page_sent', { pager: 'oncall-pagerduty', action: 'acknowledge' }),
      page('page_sent', { pager: 'ops-webhook', action: 'resolve' }),
    ]);
    expect(text).toContain('📟 Paged through *oncall-pagerduty*');
    expect(text).toContain('📟 Sent the acknowledgement to *oncall-pagerduty*');
    expect(text).toContain('📟 Sent the resolution to *ops-webhook*');
  });

  it('tells a failure, whether it is retried, and its recovery', async () => {
    const text = await threadText([
      page('page_failed', {
        pager: 'ops-webhook',
        action: 'trigger',
        error: 'HTTP 500: <!channel>',
        retrying: true,
      }),
      page('page_failed', {
        pager: 'ops-webhook',
        action: 'trigger',
        error: 'HTTP 400: bad key',
        retrying: false,
      }),
      page('page_recovered', {
        pager: 'ops-webhook',
        action: 'trigger',
        failedAttempts: 3,
        failingSince: '2026-01-01T00:05:00Z',
      }),
    ]);
    // The pager's answer is escaped: it cannot ping the channel.
    expect(text).toContain('⚠️ Could not send the page to *ops-webhook*: HTTP 500: &lt;!channel&gt;');
    expect(text).toContain('_Retrying until it goes through._');
    expect(text).toContain('HTTP 400: bad key');
    expect(text).toContain('_Refused: tried again when the incident reopens or the bot restarts.');
    expect(text).toContain('📟 *ops-webhook* took the page after 3 failed tries over 5 min');
  });

  it('lists every page entry in /incident timeline', () => {
    const view = timelineView(
      snapshot,
      [
        page('page_requested', { pager: 'oncall-pagerduty', step: 2 }),
        page('page_failed', {
          pager: 'oncall-pagerduty',
          action: 'trigger',
          error: 'HTTP 503',
          retrying: true,
        }),
        page('page_recovered', { pager: 'oncall-pagerduty', action: 'trigger', failedAttempts: 2 }),
      ],
      3,
    );
    expect(view.entries.map((e) => `${e.kind}: ${e.summary}`)).toEqual([
      'Page requested: oncall-pagerduty, by escalation step 2',
      'Page failed: oncall-pagerduty: trigger failed, retrying: HTTP 503',
      'Page recovered: oncall-pagerduty: trigger, after 2 failed tries',
    ]);
  });
});
