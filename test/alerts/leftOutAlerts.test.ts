import { describe, expect, it } from 'vitest';
import type { AlertmanagerApi } from '../../src/alertmanager/alertmanagerApi.js';
import { ingestDelivery } from '../../src/alerts/ingest.js';
import { leftOutAlertsDue, resolveLeftOutAlerts } from '../../src/alerts/leftOutAlerts.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { inTransaction } from '../../src/db/pool.js';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { migratedDatabase } from '../support/database.js';

const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');

/**
 * After a resolved notification Alertmanager truncated: what Alertmanager says is live decides. Its API
 * is a stand-in here, answering what each test says (test/alertmanager/liveAlerts.test.ts asks a real one,
 * test/e2e/truncatedResolutions.test.ts the whole way).
 */
describe('resolving the alerts a truncated notification left out', () => {
  const pool = migratedDatabase();
  const answering = (live: string[], beforeAnswer?: () => Promise<unknown>) =>
    ({
      liveAlerts: async () => {
        await beforeAnswer?.();
        return new Set(live);
      },
    }) as unknown as AlertmanagerApi;
  const deliver = (group: string, alerts: AlertSpec[]) =>
    inTransaction(pool(), (db) =>
      ingestDelivery(db, config, WebhookPayloadSchema.parse(payload({ group, alerts }))),
    );
  const opened = async (group: string) => {
    const { incident } = await deliver(group, [{ instance: 'pod-a' }, { instance: 'pod-b' }]);
    const { rows } = await pool().query<{ instance: string; fingerprint: string }>(
      "SELECT labels->>'instance' AS instance, fingerprint FROM alerts WHERE incident_id = $1",
      [incident!.id],
    );
    return { id: incident!.id, fingerprint: new Map(rows.map((r) => [r.instance, r.fingerprint])) };
  };
  const stateOf = async (id: number) => {
    const incident = await pool().query('SELECT state FROM incidents WHERE id = $1', [id]);
    const alerts = await pool().query(
      "SELECT labels->>'instance' AS instance, status FROM alerts WHERE incident_id = $1 ORDER BY 1",
      [id],
    );
    return { state: incident.rows[0].state, alerts: alerts.rows };
  };

  it('resolves the alerts Alertmanager no longer has, and keeps the incident open for those it has', async () => {
    const { id, fingerprint } = await opened('PartlyLive');
    const outcome = await resolveLeftOutAlerts(
      pool(),
      answering([fingerprint.get('pod-b')!]),
      id,
      'incident-bot',
    );
    expect(outcome.version).toBeDefined();
    expect(outcome.resolved).toBeUndefined();
    expect(await stateOf(id)).toEqual({
      state: 'open',
      alerts: [
        { instance: 'pod-a', status: 'resolved' },
        { instance: 'pod-b', status: 'firing' },
      ],
    });
  });

  it('resolves the incident once Alertmanager has none of the group live', async () => {
    const { id } = await opened('NoneLive');
    const outcome = await resolveLeftOutAlerts(pool(), answering([]), id, 'incident-bot');
    expect(outcome.resolved).toEqual({ afterMs: expect.any(Number), severity: 'P0' });
    expect((await stateOf(id)).state).toBe('resolved');
  });

  it('keeps it open while Alertmanager has an alert of the group that no notification listed', async () => {
    const { id } = await opened('NeverListed');
    const live = answering(['a-fingerprint-the-bot-never-had']);
    const outcome = await resolveLeftOutAlerts(pool(), live, id, 'incident-bot');
    // Those the bot had are resolved; the incident is not.
    expect(outcome.resolved).toBeUndefined();
    expect(await stateOf(id)).toEqual({
      state: 'open',
      alerts: [
        { instance: 'pod-a', status: 'resolved' },
        { instance: 'pod-b', status: 'resolved' },
      ],
    });
  });

  it('leaves an alert that fired again while Alertmanager was asked', async () => {
    const { id } = await opened('FiredAgain');
    // pod-a resolves and fires anew while the question is out: the answer predates it.
    const firedAgain = async () => {
      await deliver('FiredAgain', [{ instance: 'pod-a', status: 'resolved' }]);
      await deliver('FiredAgain', [{ instance: 'pod-a', startsAt: new Date().toISOString() }]);
    };
    const outcome = await resolveLeftOutAlerts(pool(), answering([], firedAgain), id, 'incident-bot');
    expect(outcome.resolved).toBeUndefined();
    expect(await stateOf(id)).toEqual({
      state: 'open',
      alerts: [
        { instance: 'pod-a', status: 'firing' },
        { instance: 'pod-b', status: 'resolved' },
      ],
    });
  });

  it('does nothing for an incident no longer open', async () => {
    const { id } = await opened('ResolvedMeanwhile');
    await deliver('ResolvedMeanwhile', [
      { instance: 'pod-a', status: 'resolved' },
      { instance: 'pod-b', status: 'resolved' },
    ]);
    expect(await resolveLeftOutAlerts(pool(), answering([]), id, 'incident-bot')).toEqual({});
  });

  it('is marked by a truncated resolution, and the mark cleared by the question that answers it', async () => {
    const { id } = await opened('Marked');
    const truncated = (instance = 'pod-a') =>
      inTransaction(pool(), (db) =>
        ingestDelivery(
          db,
          config,
          WebhookPayloadSchema.parse({
            ...payload({
              group: 'Marked',
              alerts: [{ instance, status: 'resolved' }],
              truncatedAlerts: 1,
            }),
            alertmanagerTruncated: true,
          }),
        ),
      );
    const marked = async () => (await leftOutAlertsDue(pool())).filter((due) => due.incidentId === id);
    await truncated();
    expect(await marked()).toEqual([{ incidentId: id, receiver: 'incident-bot' }]);
    // Another truncated resolution while Alertmanager is asked: the answer predates it, the mark stays.
    await resolveLeftOutAlerts(
      pool(),
      answering(['pod-c-is-live'], () => truncated('pod-b')),
      id,
      'incident-bot',
    );
    expect(await marked()).toHaveLength(1);
    await resolveLeftOutAlerts(pool(), answering(['pod-c-is-live']), id, 'incident-bot');
    expect(await marked()).toEqual([]);
  });
});
