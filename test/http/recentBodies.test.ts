import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { RECENT_BODIES, RecentBodies } from '../../src/http/recentBodies.js';
import { describeWithAlertmanager, startAlertmanagerCluster } from '../support/alertmanagerCluster.js';
import { waitFor } from '../support/services.js';

const read = (groupKey: string) => ({ groupKey, digest: `digest of ${groupKey}` });
const key = (text: string) => RecentBodies.keyOf(Buffer.from(text));

describe('the notification bodies received lately', () => {
  it('knows a body by its bytes, and only those bytes', () => {
    const recent = new RecentBodies();
    recent.remember(key('{"a":1}'), read('g'));
    expect(recent.get(key('{"a":1}'))).toEqual(read('g'));
    expect(recent.get(key('{"a": 1}'))).toBeUndefined();
  });

  it('forgets the body read longest ago once it holds its most, a body known again counting as read', () => {
    const recent = new RecentBodies(2);
    recent.remember(key('old'), read('old'));
    recent.remember(key('kept'), read('kept'));
    expect(recent.get(key('old'))).toEqual(read('old'));
    recent.remember(key('new'), read('new'));
    expect(recent.get(key('kept'))).toBeUndefined();
    expect(recent.get(key('old'))).toEqual(read('old'));
    expect(recent.get(key('new'))).toEqual(read('new'));
  });

  it('keeps the last two bodies of a group (of its own limit), a body known again counting as received', () => {
    const recent = new RecentBodies(RECENT_BODIES, 2);
    // An HA pair's two copies of what the group said first, then of what it says now.
    recent.remember(key('first, peer 1'), read('g'));
    recent.remember(key('first, peer 2'), read('g'));
    recent.remember(key('other group'), read('h'));
    // Known again: the first peer's copy now counts as the group's last, and outlives the second's.
    expect(recent.get(key('first, peer 1'))).toEqual(read('g'));
    recent.remember(key('now, peer 1'), read('g'));
    expect(recent.get(key('first, peer 2'))).toBeUndefined();
    expect(recent.get(key('first, peer 1'))).toEqual(read('g'));
    recent.remember(key('now, peer 2'), read('g'));
    expect(recent.get(key('now, peer 1'))).toBeUndefined();
    expect(recent.get(key('first, peer 1'))).toEqual(read('g'));
    expect(recent.get(key('now, peer 2'))).toEqual(read('g'));
    expect(recent.get(key('other group'))).toEqual(read('h'));
  });

  it('keeps one entry for a body remembered twice, and its group’s count with it', () => {
    const recent = new RecentBodies(RECENT_BODIES, 2);
    // Two copies of a body arriving together are both parsed, and both remembered.
    recent.remember(key('twice'), read('g'));
    recent.remember(key('twice'), read('g'));
    recent.remember(key('then'), read('g'));
    expect(recent.get(key('twice'))).toEqual(read('g'));
    recent.remember(key('last'), read('g'));
    expect(recent.get(key('then'))).toBeUndefined();
    expect(recent.get(key('twice'))).toEqual(read('g'));
    recent.remember(key('after'), read('g'));
    expect(recent.get(key('last'))).toBeUndefined();
    expect(recent.get(key('twice'))).toEqual(read('g'));
    expect(recent.get(key('after'))).toEqual(read('g'));
  });

  it('forgets the body received longest ago when past its most in all, were it of the group just received', () => {
    const recent = new RecentBodies(3, 3);
    recent.remember(key('g 1'), read('g'));
    recent.remember(key('h'), read('h'));
    recent.remember(key('g 2'), read('g'));
    // Four in all: the group's own first goes, though the group had room for three.
    recent.remember(key('g 3'), read('g'));
    expect(recent.get(key('g 1'))).toBeUndefined();
    // Then h goes for the group's third, and the group's oldest for its fourth.
    recent.remember(key('g 4'), read('g'));
    expect(recent.get(key('h'))).toBeUndefined();
    recent.remember(key('g 5'), read('g'));
    expect(recent.get(key('g 2'))).toBeUndefined();
    for (const n of [3, 4, 5]) expect(recent.get(key(`g ${n}`))).toEqual(read('g'));
  });

  it('does not remember a body of a group key over 1 KiB, as the last accepted deliveries do not', () => {
    const recent = new RecentBodies();
    recent.remember(key('long'), read('g'.repeat(1025)));
    recent.remember(key('longest kept'), read('g'.repeat(1024)));
    expect(recent.get(key('long'))).toBeUndefined();
    expect(recent.get(key('longest kept'))).toEqual(read('g'.repeat(1024)));
  });
});

describeWithAlertmanager('what a real Alertmanager sends again', () => {
  it('repeats a firing notification as the same bytes, so that it is known by them', async () => {
    const bodies: Buffer[] = [];
    const receiver = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        bodies.push(Buffer.concat(chunks));
        res.end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, '127.0.0.1', resolve));
    const cluster = await startAlertmanagerCluster({
      webhookUrls: [`http://127.0.0.1:${(receiver.address() as AddressInfo).port}/alertmanager`],
      token: 'am-token-recent-bodies',
      groupInterval: '1s',
      repeatInterval: '1s',
    });
    try {
      // Two alerts of one group, with annotations, as Prometheus posts them (again, as it does every minute).
      const alerts = ['pod-1', 'pod-2'].map((instance) => ({
        labels: { alertname: 'HighErrorRate', severity: 'critical', service: 'payments-api', instance },
        annotations: { summary: `errors on ${instance}` },
        startsAt: new Date(Date.now() - 60_000).toISOString(),
        generatorURL: 'http://prometheus.example/graph',
      }));
      await cluster.fire(alerts);
      await waitFor(() => bodies.length >= 2, 20_000, 'the first notification and a repeat');
      await cluster.fire(alerts);
      const seen = bodies.length;
      await waitFor(() => bodies.length >= seen + 2, 20_000, 'two repeats');
      expect(JSON.parse(bodies[0]!.toString())).toMatchObject({ status: 'firing', alerts: [{}, {}] });
      for (const body of bodies) expect(RecentBodies.keyOf(body)).toBe(RecentBodies.keyOf(bodies[0]!));
    } finally {
      await cluster.stop();
      await new Promise((resolve) => receiver.close(resolve));
    }
  });
});
