import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { waitFor } from '../support/services.js';
import { DEFAULT_TEST_CONFIG, jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

// startsAt values, earliest first: the order Prometheus saw things in, whatever order copies arrive in.
const T0 = '2026-11-23T08:00:00.123456789Z';
const T0_30 = '2026-11-23T08:30:00Z';
const T1 = '2026-11-23T09:00:00Z'; // when the payload helper's resolved alerts end
const T2 = '2026-11-23T10:00:00Z';

const BOTH_FIRING: AlertSpec[] = [
  { instance: 'a', startsAt: T0 },
  { instance: 'b', startsAt: T0 },
];
const A_RESOLVED_B_FIRING: AlertSpec[] = [
  { instance: 'a', startsAt: T0, status: 'resolved' },
  { instance: 'b', startsAt: T0 },
];

/** How the alert template shows a startsAt: Slack's date token, in seconds. */
const started = (iso: string) => `Started <!date^${Math.floor(Date.parse(iso) / 1000)}^`;

function ordering(configYaml: string) {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({ configYaml });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const send = async (
    group: string,
    alerts: AlertSpec[],
    extra: { status?: 'firing' | 'resolved'; truncatedAlerts?: number } = {},
  ) => {
    const res = await bot.deliver(payload({ group, alerts, ...extra }));
    expect(res.status).toBe(200);
    const body = await jsonOf(res);
    return { outcome: body.outcome, incident: body.incident };
  };

  /** The incident's row and its root message, once Slack shows the incident's latest version. */
  const shown = async (ref: string | undefined) => {
    const id = Number(ref?.replace('INC-', ''));
    const row = await waitFor(
      async () => {
        const { rows } = await bot.app.pool.query(
          `SELECT state, channel_id, root_ts, root_version >= version AS current
             FROM incidents WHERE id = $1`,
          [id],
        );
        return rows[0]?.current ? rows[0] : undefined;
      },
      20_000,
      `${ref} shown in Slack`,
    );
    const root = bot.slack.emulator.message(row.channel_id, row.root_ts)!;
    const { rows: alerts } = await bot.app.pool.query(
      `SELECT labels->>'instance' AS instance, status, starts_at AS "startsAt"
         FROM alerts WHERE incident_id = $1 ORDER BY instance`,
      [id],
    );
    return { state: row.state, text: root.text, blocks: JSON.stringify(root.blocks), alerts };
  };
  const incidentsOf = async (group: string) =>
    (
      await bot.app.pool.query('SELECT state FROM incidents WHERE group_key LIKE $1 ORDER BY id', [
        `%"${group}"%`,
      ])
    ).rows.map((r) => r.state);

  return { send, shown, incidentsOf };
}

// These groups resolve and fire again at once, and the copies they test come from the earlier incident:
// what the bot meets once alerts.reopenWithin has passed. Within it, the same incident would reopen.
const NO_REOPENING = 'alerts:\n  reopenWithin: none\n';

describe('alerts out of order, with the default late-copy window (5 minutes)', () => {
  const { send, shown, incidentsOf } = ordering(DEFAULT_TEST_CONFIG + NO_REOPENING);

  it('keeps a live incident open when a late copy of an old resolution arrives', async () => {
    const first = await send('LateResolution', [{ instance: 'a', startsAt: T0 }]);
    await send('LateResolution', [{ instance: 'a', startsAt: T0, status: 'resolved' }]);
    const live = await send('LateResolution', [{ instance: 'a', startsAt: T2 }]);
    expect(live.outcome).toBe('created');
    expect(live.incident).not.toBe(first.incident);

    // A lagging peer's copy of the first resolution: its alert started at T0, before the live one.
    const late = await send('LateResolution', [{ instance: 'a', startsAt: T0, status: 'resolved' }]);
    const after = await shown(live.incident);
    expect(after.state).toBe('open');
    expect(after.text).toMatch(/^🔴 .*: 1 firing, 0 resolved$/);
    expect(after.blocks).toContain(started(T2));
    expect(after.alerts).toEqual([{ instance: 'a', status: 'firing', startsAt: new Date(T2) }]);
    expect(late.outcome).toBe('stale');

    // The late copy's digest is not remembered: the real resolution, the same shape, still resolves.
    const real = await send('LateResolution', [{ instance: 'a', startsAt: T2, status: 'resolved' }]);
    expect(real.outcome).toBe('updated');
    expect((await shown(live.incident)).text).toMatch(/^✅ .*: 0 firing, 1 resolved$/);
    expect(await incidentsOf('LateResolution')).toEqual(['resolved', 'resolved']);
  });

  it('refuses an alert firing again with its old startsAt within the window as a late copy', async () => {
    const first = await send('RefiredSoon', [{ instance: 'a', startsAt: T0 }]);
    await send('RefiredSoon', [{ instance: 'a', startsAt: T0, status: 'resolved' }]);
    const again = await send('RefiredSoon', [{ instance: 'a', startsAt: T0 }]);
    expect(again.outcome).toBe('stale');
    expect(await incidentsOf('RefiredSoon')).toEqual(['resolved']);
    expect((await shown(first.incident)).text).toMatch(/^✅ .*: 0 firing, 1 resolved$/);
  });

  it('keeps a group open on a truncated firing notification whose listed alerts all resolved', async () => {
    const opened = await send('TruncatedFiring', BOTH_FIRING);
    const listed: AlertSpec[] = [
      { instance: 'a', startsAt: T0, status: 'resolved' },
      { instance: 'b', startsAt: T0, status: 'resolved' },
    ];
    // The firing alerts are the ones Alertmanager truncated away: the status says some still fire.
    const partial = await send('TruncatedFiring', listed, { status: 'firing', truncatedAlerts: 3 });
    expect(partial.outcome).toBe('updated');
    const open = await shown(opened.incident);
    expect(open.state).toBe('open');
    expect(open.text).toMatch(/^🔴 .*: 0 firing, 2 resolved$/);
    expect(open.blocks).not.toContain('✅ Resolved');

    // Alertmanager truncates before it works the status out: "resolved" then tells of a and b alone, and
    // the three it left out may still fire.
    await send('TruncatedFiring', listed, { status: 'resolved', truncatedAlerts: 3 });
    expect((await shown(opened.incident)).state).toBe('open');
  });

  it('resolves nothing else on a resolved notification that carries an alert older than the stored one', async () => {
    const opened = await send('OlderInResolved', BOTH_FIRING);
    await send('OlderInResolved', A_RESOLVED_B_FIRING);
    await send('OlderInResolved', [
      { instance: 'a', startsAt: T2 },
      { instance: 'b', startsAt: T0 },
    ]);
    // a is listed with T0, older than its stored T2; b (started T0, not after the listed alerts) is truncated.
    const late = await send('OlderInResolved', [{ instance: 'a', startsAt: T0, status: 'resolved' }], {
      status: 'resolved',
      truncatedAlerts: 1,
    });
    const after = await shown(opened.incident);
    expect(after.state).toBe('open');
    expect(after.text).toMatch(/^🔴 .*: 2 firing, 0 resolved$/);
    expect(after.alerts).toEqual([
      { instance: 'a', status: 'firing', startsAt: new Date(T2) },
      { instance: 'b', status: 'firing', startsAt: new Date(T0) },
    ]);
    expect(late.outcome).toBe('stale');
  });

  it('resolves a resolved group the bot truncated whose unlisted alert started after every kept one', async () => {
    const opened = await send('TruncatedResolved', [
      { instance: 'a0000', startsAt: T0 },
      { instance: 'b', startsAt: T0_30 },
    ]);
    // Alertmanager lists alerts by their labels, not their age: b, the newer, is the one the bot leaves out
    // of 1,001 (it keeps 1,000). The group resolved, and the kept ended (at T1) after b started, so b is
    // no newcomer.
    const resolvedGroup: AlertSpec[] = [
      ...Array.from({ length: 1000 }, (_, i) => ({
        instance: `a${String(i).padStart(4, '0')}`,
        startsAt: T0,
        status: 'resolved' as const,
      })),
      { instance: 'b', startsAt: T0_30, status: 'resolved' },
    ];
    const resolved = await send('TruncatedResolved', resolvedGroup);
    expect(resolved.outcome).toBe('updated');
    const after = await shown(opened.incident);
    expect(after.state).toBe('resolved');
    expect(after.alerts.find((a) => a.instance === 'b')?.status).toBe('resolved');
  });

  it('takes a newer startsAt for a firing alert, so a late copy of its old resolution stays late', async () => {
    const opened = await send('NewerStart', [{ instance: 'a', startsAt: T0 }]);
    // The resolution in between reached the bot from neither peer; the alert fires again since T2.
    const again = await send('NewerStart', [{ instance: 'a', startsAt: T2 }]);
    expect(again.outcome).toBe('updated');
    const late = await send('NewerStart', [{ instance: 'a', startsAt: T0, status: 'resolved' }]);
    expect(late.outcome).toBe('stale');
    const after = await shown(opened.incident);
    expect(after.state).toBe('open');
    expect(after.blocks).toContain(started(T2));
    expect(after.alerts).toEqual([{ instance: 'a', status: 'firing', startsAt: new Date(T2) }]);
  });

  it('adds nothing from an old incident to the live one when a late copy lists several alerts', async () => {
    await send('LateGroupCopy', BOTH_FIRING);
    const bothResolved: AlertSpec[] = [
      { instance: 'a', startsAt: T0, status: 'resolved' },
      { instance: 'b', startsAt: T0, status: 'resolved' },
    ];
    await send('LateGroupCopy', bothResolved);
    const live = await send('LateGroupCopy', [{ instance: 'a', startsAt: T2 }]);
    expect(live.outcome).toBe('created');
    // A lagging peer's copy of the old resolution: a is older than the live a, b belongs to the old incident.
    const late = await send('LateGroupCopy', bothResolved);
    expect(late.outcome).toBe('stale');
    const after = await shown(live.incident);
    expect(after.state).toBe('open');
    expect(after.text).toMatch(/^🔴 .*: 1 firing, 0 resolved$/);
    expect(after.alerts).toEqual([{ instance: 'a', status: 'firing', startsAt: new Date(T2) }]);
  });

  it('leaves firing an alert that started after every alert of a resolved notification', async () => {
    const opened = await send('StartedSince', [{ instance: 'a', startsAt: T0 }]);
    await send('StartedSince', [
      { instance: 'a', startsAt: T0 },
      { instance: 'b', startsAt: T1 },
    ]);
    // Sent when the group held only a, delivered after b started firing.
    const late = await send('StartedSince', [{ instance: 'a', startsAt: T0, status: 'resolved' }]);
    expect(late.outcome).toBe('updated');
    const after = await shown(opened.incident);
    expect(after.state).toBe('open');
    expect(after.text).toMatch(/^🔴 .*: 1 firing, 1 resolved$/);
    expect(after.alerts.map((a) => `${a.instance}:${a.status}`)).toEqual(['a:resolved', 'b:firing']);
  });
});

describe('alerts out of order, with no late-copy window', () => {
  const { send, shown, incidentsOf } = ordering(
    `${DEFAULT_TEST_CONFIG + NO_REOPENING}  lateCopyWindow: none\n`,
  );

  it('opens a new incident when a resolved alert fires again with its old startsAt', async () => {
    const first = await send('RefiredLater', [{ instance: 'a', startsAt: T0 }]);
    await send('RefiredLater', [{ instance: 'a', startsAt: T0, status: 'resolved' }]);
    // Prometheus lost Alertmanager for longer than endsAt, then sent the still-active alert unchanged.
    const again = await send('RefiredLater', [{ instance: 'a', startsAt: T0 }]);
    expect(await incidentsOf('RefiredLater')).toEqual(['resolved', 'open']);
    expect(again.incident).not.toBe(first.incident);
    const live = await shown(again.incident);
    expect(live.text).toMatch(/^🔴 .*: 1 firing, 0 resolved$/);
    expect(live.blocks).toContain(started(T0));
    expect(again.outcome).toBe('created');
  });

  it('sets an alert firing again in its open incident', async () => {
    const opened = await send('RefiredInOpen', BOTH_FIRING);
    await send('RefiredInOpen', A_RESOLVED_B_FIRING);
    expect((await shown(opened.incident)).text).toMatch(/: 1 firing, 1 resolved$/);
    const again = await send('RefiredInOpen', BOTH_FIRING);
    const after = await shown(opened.incident);
    expect(after.text).toMatch(/^🔴 .*: 2 firing, 0 resolved$/);
    expect(after.alerts.map((a) => `${a.instance}:${a.status}`)).toEqual(['a:firing', 'b:firing']);
    expect(again.outcome).toBe('updated');
  });
});
