import { describe, expect, it } from 'vitest';
import type { AlertRow, Incident, IncidentSnapshot } from '../../src/incidents/incidentStore.js';
import type { TimelineEntry } from '../../src/incidents/timeline.js';
import { formatDuration } from '../../src/primitives/duration.js';
import { ordinal } from '../../src/primitives/text.js';
import { escapeMrkdwn } from '../../src/render/mrkdwn.js';
import { TemplateSet } from '../../src/render/templates.js';
import {
  alertView,
  describeEntry,
  incidentView,
  rootView,
  THREAD_KINDS,
  threadView,
} from '../../src/views/incident.js';
import { incidentRow } from '../support/incidents.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const escapedLength = (text: string) => escapeMrkdwn(text).length;

const incident = incidentRow;

function alert(fingerprint: string, overrides: Partial<AlertRow> = {}): AlertRow {
  return {
    fingerprint,
    status: 'firing',
    alertname: 'CheckoutErrors',
    severity: 'P1',
    labels: { alertname: 'CheckoutErrors', severity: 'warning', instance: fingerprint },
    annotations: {},
    startsAt: new Date('2026-01-01T00:00:00Z'),
    endsAt: null,
    generatorUrl: null,
    ...overrides,
  };
}

function snapshot(
  overrides: Partial<Incident> = {},
  alerts: AlertRow[] = [],
  counts = { firing: 0, resolved: 0 },
) {
  return {
    incident: incident(overrides),
    roles: {},
    degradations: [],
    alerts,
    ...counts,
  } satisfies IncidentSnapshot;
}

let nextId = 1;
function entry(kind: TimelineEntry['kind'], data: Record<string, unknown> = {}): TimelineEntry {
  return { id: nextId++, kind, actor: 'alertmanager', data, createdAt: new Date('2026-01-01T00:00:00Z') };
}
const firingEntry = (fingerprint: string) => entry('alert_firing', { fingerprint });
const resolvedEntry = (fingerprint: string) => entry('alert_resolved', { fingerprint });

describe('formatDuration', () => {
  it.each([
    [0, '0 min'],
    [29_999, '0 min'],
    [30_000, '1 min'],
    [59 * MINUTE, '59 min'],
    [59.5 * MINUTE, '1 h 0 min'],
    [90 * MINUTE, '1 h 30 min'],
    [47 * HOUR + 59 * MINUTE, '47 h 59 min'],
    [48 * HOUR, '2 days 0 h'],
    [3 * DAY + 5 * HOUR + 40 * MINUTE, '3 days 5 h'],
    [-5 * MINUTE, '0 min'],
  ])('formats %i ms as %j', (ms, expected) => {
    expect(formatDuration(ms)).toBe(expected);
  });
});

describe('ordinal', () => {
  it.each([
    [1, '1st'],
    [2, '2nd'],
    [3, '3rd'],
    [4, '4th'],
    [10, '10th'],
    [11, '11th'],
    [12, '12th'],
    [13, '13th'],
    [21, '21st'],
    [22, '22nd'],
    [23, '23rd'],
    [101, '101st'],
    [111, '111th'],
    [112, '112th'],
    [1002, '1002nd'],
  ])('writes %i as %j', (n, expected) => {
    expect(ordinal(n)).toBe(expected);
  });
});

describe('incidentView', () => {
  it('builds the header from status, severity, reference and title', () => {
    expect(incidentView(snapshot())).toEqual({
      id: 42,
      ref: 'INC-42',
      header: '🔴 [P1] INC-42 · CheckoutErrors: error rate above 5%',
      title: 'CheckoutErrors: error rate above 5%',
      severity: 'P1',
      resolved: false,
      alertBorn: true,
      status: 'Investigating',
      updateCount: 0,
      createdAt: '2026-01-01T00:00:00.000Z',
    });
  });

  it('adds the resolution time and duration once resolved', () => {
    const view = incidentView(
      snapshot({ state: 'resolved', resolvedAt: new Date('2026-01-01T02:15:00Z'), severity: 'P0' }),
    );
    expect(view).toMatchObject({
      header: '✅ [P0] INC-42 · CheckoutErrors: error rate above 5%',
      resolved: true,
      resolvedAt: '2026-01-01T02:15:00.000Z',
      duration: '2 h 15 min',
    });
  });

  describe('header length', () => {
    it('keeps a title that fits as it is', () => {
      const prefix = '🔴 [P1] INC-42 · ';
      const title = 'x'.repeat(150 - prefix.length);
      expect(incidentView(snapshot({ title })).header).toBe(prefix + title);
    });

    it('never exceeds 150 characters once escaped, even for long titles full of &', () => {
      const titles = [
        'a'.repeat(1000),
        '&'.repeat(1000),
        '<>'.repeat(500),
        'R&D <ops> & more '.repeat(40),
        `${'x'.repeat(120)}&&&&&&&&&&&&`,
        '😀&'.repeat(300),
      ];
      for (const title of titles) {
        for (const id of [1, 42, 999_999_999]) {
          for (const state of ['open', 'resolved'] as const) {
            const { header } = incidentView(snapshot({ id, title, state }));
            expect(escapedLength(header)).toBeLessThanOrEqual(150);
            expect(header.endsWith('…')).toBe(true);
          }
        }
      }
    });

    it('cuts the title, never the prefix', () => {
      const { header } = incidentView(snapshot({ title: '&'.repeat(200) }));
      // 17 characters of prefix leave 133: 26 × '&amp;' and … take 131, a 27th entity would not fit.
      expect(header).toBe(`🔴 [P1] INC-42 · ${'&'.repeat(26)}…`);
      expect(escapedLength(header)).toBe(148);
    });
  });

  it('cuts the title to 500 characters once escaped', () => {
    const { title } = incidentView(snapshot({ title: '<'.repeat(1000) }));
    expect(escapedLength(title)).toBeLessThanOrEqual(500);
    expect(title).toBe(`${'<'.repeat(124)}…`);
  });
});

describe('alertView', () => {
  it('shows labels other than alertname and severity, sorted, as k=v', () => {
    const view = alertView(
      alert('f1', {
        labels: { severity: 'critical', zone: 'eu-1', alertname: 'X', app: 'checkout', b: '2' },
      }),
    );
    expect(view.labels).toBe('app=checkout, b=2, zone=eu-1');
  });

  it('maps the row and leaves out absent optional fields', () => {
    expect(alertView(alert('f1', { annotations: { summary: 'High errors' } }))).toEqual({
      alertname: 'CheckoutErrors',
      severity: 'P1',
      firing: true,
      summary: 'High errors',
      description: '',
      labels: 'instance=f1',
      startsAt: '2026-01-01T00:00:00.000Z',
    });
  });

  it('includes end time, generator URL and runbook when present', () => {
    const view = alertView(
      alert('f1', {
        status: 'resolved',
        endsAt: new Date('2026-01-01T01:00:00Z'),
        generatorUrl: 'https://prometheus.example.com/graph',
        annotations: { runbook_url: 'https://runbooks.example.com/checkout' },
      }),
    );
    expect(view).toMatchObject({
      firing: false,
      endsAt: '2026-01-01T01:00:00.000Z',
      generatorUrl: 'https://prometheus.example.com/graph',
      runbookUrl: 'https://runbooks.example.com/checkout',
    });
  });

  it('falls back to the message annotation for the description, and names a nameless alert', () => {
    const view = alertView(alert('f1', { alertname: '', annotations: { message: 'legacy text' } }));
    expect(view.alertname).toBe('(no alertname)');
    expect(view.description).toBe('legacy text');
  });

  it('cuts every text to its budget once escaped', () => {
    const long = '<&>'.repeat(2000);
    const view = alertView(
      alert('f1', {
        alertname: long,
        annotations: { summary: long, description: long },
        labels: Object.fromEntries(Array.from({ length: 50 }, (_, i) => [`label${i}`, long])),
      }),
    );
    expect(escapedLength(view.alertname)).toBeLessThanOrEqual(150);
    expect(escapedLength(view.summary)).toBeLessThanOrEqual(500);
    expect(escapedLength(view.description)).toBeLessThanOrEqual(1000);
    expect(escapedLength(view.labels)).toBeLessThanOrEqual(800);
    for (const text of [view.alertname, view.summary, view.description, view.labels]) {
      expect(text.endsWith('…')).toBe(true);
    }
  });
});

describe('rootView', () => {
  it('counts the alerts not shown as more', () => {
    const view = rootView(snapshot({}, [alert('f1'), alert('f2')], { firing: 5, resolved: 3 }));
    expect(view.firing).toBe(5);
    expect(view.resolved).toBe(3);
    expect(view.alerts.map((a) => a.labels)).toEqual(['instance=f1', 'instance=f2']);
    expect(view.moreAlerts).toBe(6);
  });

  it('has no more when every alert is shown', () => {
    expect(rootView(snapshot({}, [alert('f1')], { firing: 1, resolved: 0 })).moreAlerts).toBe(0);
  });

  it('says so when the last notification did not list the whole group', async () => {
    const templates = await TemplateSet.load();
    const note = (truncatedAlerts: number, stored = 1) =>
      JSON.stringify(
        templates.renderMessage(
          'incident-root',
          rootView(snapshot({ truncatedAlerts }, [alert('f1')], { firing: stored, resolved: 0 })),
        ).blocks,
      ).match(/…and [^"]*|⚠️ The last notification[^"]*/g);
    expect(note(0)).toBeNull();
    expect(note(14_000)).toEqual([
      '⚠️ The last notification did not list 14000 more alerts of this group: only part of it is shown.',
    ]);
    expect(note(1, 3)).toEqual([
      '…and 2 more alerts',
      '⚠️ The last notification did not list 1 more alert of this group: only part of it is shown.',
    ]);
  });

  it('says where an incident shown elsewhere belongs and why, escaping what Slack said', async () => {
    const templates = await TemplateSet.load();
    const line = (incident: Partial<Incident>) =>
      JSON.stringify(templates.renderMessage('incident-root', rootView(snapshot(incident))).blocks).match(
        /⚠️ [^"]*/g,
      );
    expect(line({})).toBeNull();
    expect(line({ refusedChannelId: 'C0PAYMENTS', slackError: 'not_in_channel' })).toEqual([
      '⚠️ This incident belongs in <#C0PAYMENTS>, but Slack would not let the bot post there (`not_in_channel`), so it is shown here. Invite the bot to that channel, unarchive it or correct the route: new incidents try it again.',
    ]);
    expect(line({ slackError: '<!channel>' })).toEqual([
      "⚠️ Slack did not create this incident's own channel (`&lt;!channel&gt;`), so it is shown here.",
    ]);
  });

  describe('silence buttons', () => {
    const silence = {
      silenceId: '0b6c2a4e-1111-4222-8333-444455556666',
      incidentId: 42,
      matchers: [{ name: 'alertname', value: 'CheckoutErrors' }],
      startsAt: new Date('2026-01-01T00:30:00Z'),
      endsAt: new Date('2026-01-01T04:00:00Z'),
      silencedBy: 'U0ALICE',
      reason: 'deploying',
    };
    const resolved = { state: 'resolved' as const, resolvedAt: new Date('2026-01-01T01:00:00Z') };
    const buttons = (overrides: Partial<Incident>, configured = true) =>
      rootView(snapshot(overrides), new Set(), configured).silenceButtons;

    it('offers Silence on an open alert-born incident, Extend and Unsilence while it is silenced', () => {
      expect(buttons({})).toEqual({ silence: true });
      expect(buttons({ silence })).toEqual({ extend: true, unsilence: 'Unsilence' });
    });

    it('keeps only Expire silence once resolved, until the silence ends', () => {
      expect(buttons({ ...resolved, silence })).toEqual({ unsilence: 'Expire silence' });
      expect(buttons(resolved)).toEqual({});
    });

    it('offers none without Alertmanager configured, nor on a declared incident', () => {
      expect(buttons({}, false)).toBeUndefined();
      expect(buttons({ silence }, false)).toBeUndefined();
      expect(buttons({ groupKey: null })).toBeUndefined();
    });

    it('renders them within the actions block, Unsilence behind a confirm dialog', async () => {
      const templates = await TemplateSet.load();
      const actionsOf = (overrides: Partial<Incident>) => {
        const message = templates.renderMessage(
          'incident-root',
          rootView(snapshot(overrides), new Set(), true),
        );
        const block = message.blocks.find((b) => b.block_id === 'incident_actions') as unknown as {
          elements: Array<{
            action_id: string;
            text: { text: string };
            confirm?: { title: { text: string } };
          }>;
        };
        return block.elements;
      };
      expect(actionsOf({}).map((e) => e.action_id)).toEqual([
        'incident_acknowledge',
        'incident_post_update',
        'incident_resolve',
        'incident_silence',
        'incident_postmortem',
      ]);
      const silenced = actionsOf({ silence, acknowledgedBy: 'U0BOB', acknowledgedAt: new Date() });
      expect(silenced.map((e) => e.text.text)).toEqual([
        'Post update',
        'Resolve',
        'Extend silence',
        'Unsilence',
        'Post-mortem',
      ]);
      expect(silenced[3]!.confirm?.title.text).toBe('Expire the silence?');
      expect(actionsOf({ ...resolved, silence }).map((e) => e.text.text)).toEqual([
        'Expire silence',
        'Post-mortem',
      ]);
    });
  });

  it('says which time a reopened incident is open, while it is open', async () => {
    const templates = await TemplateSet.load();
    const status = (incident: Partial<Incident>) =>
      JSON.stringify(templates.renderMessage('incident-root', rootView(snapshot(incident))).blocks).match(
        /\*Status\*[^"]*/,
      )?.[0];
    expect(status({ groupKey: null })).toBe('*Status*\\n🔴 Investigating');
    expect(status({ reopenCount: 1, groupKey: null })).toBe(
      '*Status*\\n🔴 Investigating\\n↩️ Reopened, 2nd time',
    );
    expect(status({ reopenCount: 2, status: 'identified' })).toBe(
      '*Status*\\n🔴 Identified\\n↩️ Reopened, 3rd time\\n⏳ _Not acknowledged_',
    );
    expect(status({ reopenCount: 10 })).toContain('Reopened, 11th time');
    // Resolved again: the thread tells its story; the root says only that it is resolved.
    expect(status({ reopenCount: 2, state: 'resolved', resolvedAt: new Date() })).toBe(
      '*Status*\\n✅ Resolved',
    );
  });

  it('shows who acknowledged an alert-born incident, or that nobody has, and never on a declared one', async () => {
    const templates = await TemplateSet.load();
    const render = (incident: Partial<Incident>) =>
      JSON.stringify(templates.renderMessage('incident-root', rootView(snapshot(incident))).blocks);
    const acknowledged = { acknowledgedBy: 'U0BOB', acknowledgedAt: new Date('2026-01-01T00:04:00Z') };
    expect(rootView(snapshot({})).acknowledgement).toBe('waiting');
    expect(render({})).toContain('"action_id":"incident_acknowledge"');
    expect(rootView(snapshot(acknowledged)).acknowledgement).toEqual({
      by: 'U0BOB',
      at: '2026-01-01T00:04:00.000Z',
    });
    expect(render(acknowledged)).toContain('\\n👀 Acknowledged by <@U0BOB> <!date^1767225840^');
    expect(render(acknowledged)).not.toContain('incident_acknowledge');
    // Resolved: who had it stays; nobody is asked to take it any more.
    const resolvedRoot = render({ state: 'resolved', resolvedAt: new Date() });
    expect(resolvedRoot).not.toContain('incident_acknowledge');
    expect(resolvedRoot).not.toContain('Not acknowledged');
    expect(rootView(snapshot({ groupKey: null, declaredBy: 'U0ALICE' })).acknowledgement).toBeUndefined();
    expect(render({ groupKey: null, declaredBy: 'U0ALICE' })).not.toMatch(/acknowledge/i);
  });

  it('shows the group labels and links Alertmanager only when its URL is known', () => {
    const withUrl = rootView(
      snapshot({ groupLabels: { team: 'payments', alertname: 'X' }, externalUrl: 'https://am.example.com' }),
    );
    // alertname and severity are shown elsewhere (title, severity field), so the group line hides them.
    expect(withUrl.groupLabels).toBe('team=payments');
    expect(withUrl.alertmanagerUrl).toBe('https://am.example.com');
    expect(rootView(snapshot())).not.toHaveProperty('alertmanagerUrl');
  });
});

describe('threadView', () => {
  const alerts = ['a', 'b', 'c', 'd', 'e'].map((f) => alert(f));

  it('splits the entries into alerts that fired and alerts that resolved', () => {
    const view = threadView(snapshot(), [firingEntry('a'), resolvedEntry('b'), firingEntry('c')], alerts, 10);
    expect(view.firing.map((a) => a.labels)).toEqual(['instance=a', 'instance=c']);
    expect(view.resolved.map((a) => a.labels)).toEqual(['instance=b']);
    expect(view).toMatchObject({
      firingCount: 2,
      firingMore: 0,
      resolvedCount: 1,
      resolvedMore: 0,
      events: [],
    });
  });

  it('shows a quarter of maxShown per alert list, leaving half the message to events', () => {
    const entries = [
      ...alerts.map((a) => firingEntry(a.fingerprint)),
      resolvedEntry('a'),
      resolvedEntry('b'),
    ];
    const view = threadView(snapshot(), entries, alerts, 8);
    expect(view.firing.map((a) => a.labels)).toEqual(['instance=a', 'instance=b']);
    expect(view).toMatchObject({ firingCount: 5, firingMore: 3, resolvedCount: 2, resolvedMore: 0 });
    expect(view.resolved).toHaveLength(2);
  });

  it('shows at least one alert per list when maxShown is 1', () => {
    const view = threadView(snapshot(), [firingEntry('a'), firingEntry('b'), resolvedEntry('c')], alerts, 1);
    expect(view.firing).toHaveLength(1);
    expect(view.firingMore).toBe(1);
    expect(view.resolved).toHaveLength(1);
    expect(view.resolvedMore).toBe(0);
  });

  it('ignores entries whose alert is not among the rows given', () => {
    const view = threadView(
      snapshot(),
      [firingEntry('a'), firingEntry('gone'), resolvedEntry('gone')],
      alerts,
      10,
    );
    expect(view.firingCount).toBe(1);
    expect(view.resolvedCount).toBe(0);
  });

  it('tells each severity change, in order', () => {
    const entries = [
      entry('severity_changed', { from: 'P3', to: 'P1' }),
      firingEntry('a'),
      entry('severity_changed', { from: 'P1', to: 'P0' }),
    ];
    const events = threadView(snapshot(), entries, alerts, 10).events;
    expect(events.map((e) => [e.isSeverity, e.from, e.to])).toEqual([
      [true, 'P3', 'P1'],
      [true, 'P1', 'P0'],
    ]);
  });

  it('tells when the incident resolved', () => {
    const view = threadView(snapshot(), [resolvedEntry('a'), entry('incident_resolved')], alerts, 10);
    expect(view.events.map((e) => e.isResolved)).toEqual([true]);
  });

  it('tells when the incident reopened, which time and how long after it resolved', async () => {
    const templates = await TemplateSet.load();
    // Entries here are made at 2026-01-01T00:00:00Z.
    const reopened = entry('incident_reopened', { reopenCount: 1, resolvedAt: '2025-12-31T23:48:00.000Z' });
    const view = threadView(snapshot(), [reopened, firingEntry('a')], alerts, 10);
    expect(view.events).toEqual([
      expect.objectContaining({
        isReopened: true,
        reopened: '2nd',
        duration: '12 min',
        byAlertmanager: true,
      }),
    ]);
    expect(JSON.stringify(templates.renderMessage('incident-thread', view).blocks)).toContain(
      '↩️ *Reopened, 2nd time*: its alerts fired again 12 min after it resolved',
    );
  });

  it('points to /incident postmortem on resolution only when no skeleton is on its way', async () => {
    const templates = await TemplateSet.load();
    const told = (data: Record<string, unknown>) =>
      JSON.stringify(
        templates.renderMessage(
          'incident-thread',
          threadView(snapshot(), [entry('incident_resolved', data)], alerts, 10),
        ).blocks,
      );
    expect(told({ resolution: 'Rolled back' })).toContain('/incident postmortem');
    expect(told({ resolution: 'Rolled back', postmortemFollows: true })).not.toContain(
      '/incident postmortem',
    );
  });

  it('keeps the newest events when there are more than fit, and counts the rest', () => {
    const notes = Array.from({ length: 15 }, (_, i) => entry('note', { text: `note ${i}` }));
    const view = threadView(snapshot(), notes, alerts, 10);
    expect(view.events).toHaveLength(10);
    expect(view.events[0]!.text).toBe('note 5');
    expect(view.moreEvents).toBe(5);
  });

  it('ignores entry kinds the thread does not tell', () => {
    const view = threadView(snapshot(), [entry('incident_opened'), firingEntry('a')], alerts, 10);
    expect(view.firingCount).toBe(1);
    expect(THREAD_KINDS.has('incident_opened')).toBe(false);
    expect([...THREAD_KINDS].sort()).toEqual([
      'alert_firing',
      'alert_resolved',
      'incident_acknowledged',
      'incident_escalated',
      'incident_reopened',
      'incident_resolved',
      'incident_silenced',
      'incident_unsilenced',
      'note',
      'page_failed',
      'page_recovered',
      'page_sent',
      'postmortem_generated',
      'reminder',
      'role_assigned',
      'severity_changed',
      'silence_ended',
      'silence_extended',
      'status_update',
    ]);
  });
});

describe('describeEntry', () => {
  it("writes a silence's matchers with their operators: regex and negative ones too", () => {
    const silenced = entry('incident_silenced', {
      endsAt: '2026-01-01T04:00:00.000Z',
      reason: 'host 1 only',
      matchers: [
        { name: 'alertname', value: 'HighLatency' },
        { name: 'instance', value: 'host-1.*', isRegex: true, isEqual: true },
        { name: 'env', value: 'dev', isRegex: false, isEqual: false },
        { name: 'zone', value: 'eu-.*', isRegex: true, isEqual: false },
      ],
    });
    // Before: every one as name=value.
    expect(describeEntry(silenced)).toBe(
      'until 2026-01-01T04:00:00.000Z: host 1 only (alertname=HighLatency, instance=~host-1.*, env!=dev, zone!~eu-.*)',
    );
  });
});
