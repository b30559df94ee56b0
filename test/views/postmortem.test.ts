import { describe, expect, it } from 'vitest';
import type { TimelineKind } from '../../src/primitives/timelineKind.js';
import { buildPostmortemView, type PostmortemData, peopleIn } from '../../src/views/postmortem.js';

const AT = new Date('2026-11-23T08:00:00Z');

/** An open incident U0DECL declared at AT. */
const declared = (incident: Partial<PostmortemData['incident']>): PostmortemData['incident'] => ({
  id: 1,
  title: 'Incident',
  severity: 'P2',
  state: 'open',
  status: 'investigating',
  impact: null,
  affected: null,
  resolution: null,
  createdAt: AT,
  resolvedAt: null,
  declaredBy: 'U0DECL',
  groupKey: null,
  ...incident,
});

describe('buildPostmortemView', () => {
  it('tells a declared, still open incident, its reminders and entries of kinds it does not know', () => {
    const entry = (id: number, kind: TimelineKind, actor: string, data: Record<string, unknown>) => ({
      id,
      kind,
      actor,
      data,
      createdAt: AT,
    });
    const data: PostmortemData = {
      incident: declared({ id: 7, title: 'Checkout down', severity: 'P1', status: 'identified' }),
      roles: [{ role: 'comms', userId: 'U0COMMS' }],
      alerts: [],
      timeline: [
        entry(1, 'incident_declared', 'U0DECL', { severity: 'P1', title: 'Checkout down' }),
        entry(2, 'reminder', 'incident-bot', { reminder: 'update', dueAt: '2026-11-23T08:30:00.000Z' }),
        entry(3, 'reminder', 'incident-bot', { reminder: 'commander' }),
        entry(4, 'action_requested', 'U0DECL', { action: 'x'.repeat(150), target: { pods: 3 } }),
        entry(5, 'postmortem_generated', 'U0DECL', { revision: 1 }),
      ],
    };
    const view = buildPostmortemView(data);
    expect(view).toMatchObject({
      ref: 'INC-7',
      status: 'Identified',
      duration: 'still open',
      openedBy: '@U0DECL',
      otherRoles: [{ role: 'Comms', user: '@U0COMMS' }],
      alerts: [],
      statusUpdates: 0,
    });
    for (const key of ['resolvedAt', 'commander', 'alertGroup', 'impact'])
      expect(view).not.toHaveProperty(key);
    const time = '2026-11-23 08:00 UTC';
    expect(view.timeline).toEqual([
      { time, event: 'Incident declared', actor: '@U0DECL', detail: 'P1: Checkout down' },
      { time, event: 'Reminder', actor: 'incident-bot', detail: 'status update due at 2026-11-23 08:30 UTC' },
      { time, event: 'Reminder', actor: 'incident-bot', detail: 'no commander assigned' },
      { time, event: 'Action requested', actor: '@U0DECL', detail: `action: ${'x'.repeat(99)}…` },
    ]);
  });

  it('names everyone it would show by id, wherever they appear, and keeps the ids of those not named', () => {
    const data: PostmortemData = {
      incident: declared({ id: 8, title: 'Queue backlog' }),
      roles: [
        { role: 'commander', userId: 'U0CMDR' },
        { role: 'scribe', userId: 'W0SCRIBE' },
      ],
      alerts: [],
      timeline: [
        {
          kind: 'role_assigned',
          actor: 'U0DECL',
          data: { role: 'commander', user: 'U0CMDR', previous: 'U0OLD' },
          createdAt: AT,
        },
        {
          kind: 'action_succeeded',
          actor: 'incident-bot',
          data: { by: 'U0REQ', outcome: 'ok' },
          createdAt: AT,
        },
        {
          kind: 'note',
          actor: 'alertmanager',
          data: { text: 'U0NOTANACTOR wrote this' },
          createdAt: AT,
        },
      ],
    };
    expect(peopleIn(data).sort()).toEqual(['U0CMDR', 'U0DECL', 'U0OLD', 'U0REQ', 'W0SCRIBE']);
    const names = new Map([
      ['U0DECL', 'Dana Declarer'],
      ['U0CMDR', 'Cora Commander'],
      ['U0REQ', 'Rex Requester'],
    ]);
    const view = buildPostmortemView(data, names);
    expect(view).toMatchObject({
      openedBy: 'Dana Declarer',
      commander: 'Cora Commander',
      otherRoles: [{ role: 'Scribe', user: '@W0SCRIBE' }],
    });
    expect(view.timeline.map((i) => [i.actor, i.detail])).toEqual([
      ['Dana Declarer', 'Cora Commander (replacing @U0OLD)'],
      ['incident-bot', 'by Rex Requester, outcome: ok'],
      ['Alertmanager', 'U0NOTANACTOR wrote this'],
    ]);
  });

  it('writes what people typed with names, not the markup Slack keeps in it', () => {
    const typed =
      '<@U0BOB|bob> sees 502s, <#C0PAY|payments> and <https://grafana.example/d/1?a=1&b=2|the graph>; <!here> & <b>';
    const data: PostmortemData = {
      incident: declared({
        impact: 'checkout for <@U0BOB|bob>',
        resolution: 'rolled back, see <https://ci.example/42>',
      }),
      roles: [],
      alerts: [],
      timeline: [
        { kind: 'note', actor: 'U0DECL', data: { text: typed }, createdAt: AT },
        {
          kind: 'status_update',
          actor: 'U0DECL',
          data: { number: 1, status: 'identified', text: typed },
          createdAt: AT,
        },
      ],
    };
    expect(peopleIn(data)).toContain('U0BOB');
    const view = buildPostmortemView(data, new Map([['U0BOB', 'Bob Smith']]));
    // Before: the markup as it was stored, <@U0BOB|bob> and all.
    const plain =
      '@Bob Smith sees 502s, #payments and the graph (https://grafana.example/d/1?a=1&b=2); @here & <b>';
    expect(view.timeline.map((i) => i.detail)).toEqual([plain, `Identified — ${plain}`]);
    expect(view).toMatchObject({
      impact: 'checkout for @Bob Smith',
      resolution: 'rolled back, see https://ci.example/42',
    });
    // Not named: the label Slack gave.
    expect(buildPostmortemView(data).impact).toBe('checkout for @bob');
  });
});
