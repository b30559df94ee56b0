import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PageEvent } from '../../src/pagers/pager.js';
import { PagerDutyPager } from '../../src/pagers/pagerDuty.js';
import { PAGERDUTY_MAX_EVENT_BYTES, type PagerStandIn, startPagerStandIn } from '../support/pagerStandIn.js';

const ROUTING_KEY = 'R0UTINGKEYtest0123456789abcdefab';

const trigger = (incident: Partial<PageEvent['incident']>): PageEvent => ({
  action: 'trigger',
  dedupKey: 'incident-bot:INC-7:oncall-pagerduty:3f9a1c2e7b4d',
  idempotencyKey: 'incident-bot:INC-7:oncall-pagerduty:3f9a1c2e7b4d:0:trigger',
  incident: {
    ref: 'INC-7',
    title: 'HighLatency',
    severity: 'P1',
    status: 'investigating',
    labels: {},
    ...incident,
  },
  sentAt: new Date('2026-11-23T08:00:05.000Z'),
});

describe('PagerDutyPager', () => {
  let pagerDuty: PagerStandIn;
  let pager: PagerDutyPager;
  beforeEach(async () => {
    pagerDuty = await startPagerStandIn();
    pager = new PagerDutyPager(ROUTING_KEY, `${pagerDuty.url}/v2/enqueue`);
  });
  afterEach(() => pagerDuty.close());

  const sent = () => {
    const [page] = pagerDuty.received;
    const payload = page!.body.payload as { source: string; custom_details: Record<string, unknown> };
    return { page: page!, payload, details: payload.custom_details, bytes: Buffer.byteLength(page!.raw) };
  };

  it('sends the labels as they are when they are of a usual size', async () => {
    const labels = { alertname: 'HighLatency', service: 'payments-api', severity: 'critical' };
    await pager.send(trigger({ labels }));
    expect(sent().details).toEqual({ incident: 'INC-7', severity: 'P1', status: 'investigating', labels });
    // As PostgreSQL's jsonb gives it: a label of any name is one.
    await pager.send(trigger({ labels: JSON.parse('{"__proto__": "a label too"}') }));
    expect(pagerDuty.received[1]!.raw).toContain('"labels":{"__proto__":"a label too"}');
  });

  // PagerDuty refuses an event over 512 KB for good: every page of such an incident failed.
  it("keeps an event of a huge label set within PagerDuty's limit, and says what it left out", async () => {
    const labels: Record<string, string> = { alertname: 'HighLatency', service: 'payments-api' };
    labels.description = `${'d'.repeat(1022)}🔥 and on for a megabyte ${'d'.repeat(1_000_000)}`;
    for (let i = 0; i < 5000; i++) labels[`pod_${String(i).padStart(4, '0')}`] = `${'p'.repeat(200)}-${i}`;
    labels[`l${'n'.repeat(300_000)}`] = 'a name longer than the whole budget';
    expect(Buffer.byteLength(JSON.stringify(labels))).toBeGreaterThan(PAGERDUTY_MAX_EVENT_BYTES);

    await pager.send(trigger({ labels }));

    const { page, details, bytes } = sent();
    expect(page.status).toBe(202);
    expect(bytes).toBeLessThan(PAGERDUTY_MAX_EVENT_BYTES / 4);
    const kept = details.labels as Record<string, string>;
    expect(kept).toMatchObject({
      alertname: 'HighLatency',
      service: 'payments-api',
      pod_0000: labels.pod_0000,
    });
    // Cut before the emoji, not through it: half a surrogate pair is not text PagerDuty can show.
    expect(kept.description).toBe(`${'d'.repeat(1022)}…`);
    const left = Object.keys(labels).length - Object.keys(kept).length;
    expect(left).toBeGreaterThan(0);
    expect(details.labels_truncated).toBe(
      `${left} of ${Object.keys(labels).length} labels left out and 1 value cut at 1024 characters, to keep the event within PagerDuty's 512 KB`,
    );
  });

  it('keeps an event within the limit whatever the service label and the incident link hold', async () => {
    const huge = 'x'.repeat(PAGERDUTY_MAX_EVENT_BYTES);
    await pager.send(
      trigger({ title: huge, url: `https://alertmanager.example/${huge}`, labels: { service: huge } }),
    );
    const { page, payload, bytes } = sent();
    expect(page.status).toBe(202);
    expect(bytes).toBeLessThan(PAGERDUTY_MAX_EVENT_BYTES / 4);
    expect(payload.source).toBe(`${'x'.repeat(1023)}…`);
    // A link cut short leads somewhere else: none is sent.
    expect(page.body).not.toHaveProperty('client_url');
  });
});
