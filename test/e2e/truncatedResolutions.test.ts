import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  type PostableAlert,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { unusedPort, waitFor } from '../support/services.js';
import { DEFAULT_TEST_CONFIG, jsonOf, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

/** The group's incidents and its alerts' statuses, by instance. */
async function groupState(bot: TestBot, group: string) {
  const { rows: incidents } = await bot.app.pool.query(
    'SELECT id::int, state FROM incidents WHERE group_key LIKE $1 ORDER BY id',
    [`%${group}%`],
  );
  const { rows: alerts } = await bot.app.pool.query(
    `SELECT a.labels->>'instance' AS instance, a.status FROM alerts a JOIN incidents i ON i.id = a.incident_id
      WHERE i.group_key LIKE $1 ORDER BY 1`,
    [`%${group}%`],
  );
  return { incidents: incidents.map((i) => i.state), alerts };
}

/**
 * Alertmanager's max_alerts truncates a notification before Alertmanager works its status out: a
 * "resolved" one that lists only part of the group tells only that those listed resolved.
 */
describeWithAlertmanager('a group whose notifications Alertmanager truncates (max_alerts: 1)', () => {
  let bot: TestBot;
  let cluster: AlertmanagerCluster | undefined;
  beforeAll(async () => {
    // The bot asks the same Alertmanager which alerts are live: its port is known before it starts.
    const port = await unusedPort();
    cluster = await startAlertmanagerCluster({
      webhookUrls: [`http://127.0.0.1:${port}/alertmanager`],
      token: TEST_SECRETS.alertmanagerToken,
      maxAlerts: 1,
    });
    bot = await startTestBot({
      env: { PORT: String(port) },
      // The peers have just started: taken at their word a second after.
      configYaml: `${DEFAULT_TEST_CONFIG}alertmanager:\n  urls: ['${cluster.peers[0]!.url}']\n  alertsResentWithin: 1s\n`,
    });
  });
  afterAll(async () => {
    await cluster?.stop();
    await bot?.stop();
  });

  const alert = (instance: string, startsAt: string): PostableAlert => ({
    labels: { alertname: 'TruncatedGroup', service: 'payments-api', severity: 'critical', instance },
    annotations: { summary: `Error rate above 5% on ${instance}` },
    startsAt,
  });

  it('stays open while an alert it left out still fires, and resolves once that one has', async () => {
    const startsAt = new Date().toISOString();
    const [a, b] = [alert('pod-a', startsAt), alert('pod-b', startsAt)];
    await cluster!.fire([a, b]);
    // Alertmanager lists pod-a alone, by its labels, and counts pod-b.
    await waitFor(
      async () => (await groupState(bot, 'TruncatedGroup')).alerts.length === 1,
      60_000,
      'the incident',
    );
    await cluster!.resolve([a]);
    await waitFor(
      async () => (await groupState(bot, 'TruncatedGroup')).alerts[0]?.status === 'resolved',
      60_000,
      "pod-a's resolution",
    );
    // Its notification said "resolved", of pod-a alone: pod-b fires on.
    expect(await groupState(bot, 'TruncatedGroup')).toEqual({
      incidents: ['open'],
      alerts: [{ instance: 'pod-a', status: 'resolved' }],
    });
    await cluster!.resolve([b]);
    await waitFor(
      async () => (await groupState(bot, 'TruncatedGroup')).incidents[0] === 'resolved',
      60_000,
      'the group resolved',
    );
  });

  it('resolves when the whole group resolved at once: Alertmanager, asked, has none of it live', async () => {
    const startsAt = new Date().toISOString();
    const alerts = ['pod-a', 'pod-b', 'pod-c'].map((instance) => ({
      ...alert(instance, startsAt),
      labels: { ...alert(instance, startsAt).labels, alertname: 'TruncatedAtOnce' },
    }));
    await cluster!.fire(alerts);
    await waitFor(
      async () => (await groupState(bot, 'TruncatedAtOnce')).alerts.length === 1,
      60_000,
      'the incident',
    );
    // One notification, "resolved", listing one of the three; Alertmanager sends nothing after it.
    await cluster!.resolve(alerts);
    await waitFor(
      async () => (await groupState(bot, 'TruncatedAtOnce')).incidents[0] === 'resolved',
      60_000,
      'the group resolved',
    );
    const { rows } = await bot.app.pool.query(
      `SELECT t.kind, t.actor FROM timeline_entries t JOIN incidents i ON i.id = t.incident_id
        WHERE i.group_key LIKE '%TruncatedAtOnce%' AND t.kind = 'incident_resolved'`,
    );
    expect(rows).toEqual([{ kind: 'incident_resolved', actor: 'alertmanager' }]);
  });
});

describeWithAlertmanager('a truncated resolution whose question to Alertmanager Redis lost', () => {
  let cluster: AlertmanagerCluster | undefined;
  const bots: TestBot[] = [];
  afterAll(async () => {
    await cluster?.stop();
    for (const bot of bots) await bot.stop();
  });

  it('is asked by the incident tasks sweep of the next worker', async () => {
    const port = await unusedPort();
    cluster = await startAlertmanagerCluster({
      webhookUrls: [`http://127.0.0.1:${port}/alertmanager`],
      token: TEST_SECRETS.alertmanagerToken,
      maxAlerts: 1,
    });
    const configYaml = `${DEFAULT_TEST_CONFIG}alertmanager:\n  urls: ['${cluster.peers[0]!.url}']\n  alertsResentWithin: 1s\n`;
    // It ingests and queues, and runs no job: its Redis prefix is gone with it.
    const first = await startTestBot({ env: { PORT: String(port) }, configYaml, worker: false });
    bots.push(first);
    const startsAt = new Date().toISOString();
    const alerts = ['pod-a', 'pod-b'].map((instance) => ({
      labels: { alertname: 'AskedAfterRestart', service: 'payments-api', severity: 'critical', instance },
      startsAt,
    }));
    await cluster.fire(alerts);
    await waitFor(
      async () => (await groupState(first, 'AskedAfterRestart')).alerts.length === 1,
      60_000,
      'the incident',
    );
    await cluster.resolve(alerts);
    await waitFor(
      async () => (await groupState(first, 'AskedAfterRestart')).alerts[0]?.status === 'resolved',
      60_000,
      'the truncated resolution',
    );
    expect((await groupState(first, 'AskedAfterRestart')).incidents).toEqual(['open']);
    bots.splice(bots.indexOf(first), 1);
    await first.stop({ keepDatabase: true });
    const next = await startTestBot({ configYaml, database: first.database });
    bots.push(next);
    await waitFor(
      async () => (await groupState(next, 'AskedAfterRestart')).incidents[0] === 'resolved',
      30_000,
      'the group resolved',
    );
  });
});

describe('a resolved notification listing part of the group', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const send = async (sent: object) => {
    const res = await bot.deliver(JSON.stringify(sent));
    expect(res.status).toBe(200);
    return (await jsonOf(res)) as { outcome: string };
  };
  const ingested = (group: string, instance: string) =>
    waitFor(
      async () =>
        (await groupState(bot, group)).alerts.find((a) => a.instance === instance)?.status === 'resolved',
      20_000,
      `${instance}'s resolution`,
    );

  it('resolves the group when the bot left alerts out: Alertmanager worked its status out over them all', async () => {
    const instances = Array.from({ length: 1500 }, (_, i) => ({
      instance: `host-${String(i).padStart(4, '0')}`,
    }));
    await send(payload({ group: 'KeptByTheBot', alerts: instances }));
    const { rows } = await bot.app.pool.query(
      "SELECT truncated_alerts FROM incidents WHERE group_key LIKE '%KeptByTheBot%'",
    );
    expect(rows).toEqual([{ truncated_alerts: 500 }]);
    await send(
      payload({ group: 'KeptByTheBot', alerts: instances.map((a) => ({ ...a, status: 'resolved' })) }),
    );
    await waitFor(
      async () => (await groupState(bot, 'KeptByTheBot')).incidents[0] === 'resolved',
      20_000,
      'the group resolved',
    );
  });

  it('leaves the incident open when Alertmanager left alerts out, whatever the sender says of it', async () => {
    await send(payload({ group: 'LeftOut', alerts: [{ instance: 'a' }, { instance: 'b' }] }));
    await send(
      payload({ group: 'LeftOut', alerts: [{ instance: 'a', status: 'resolved' }], truncatedAlerts: 1 }),
    );
    await ingested('LeftOut', 'a');
    // Said, for an alert on it: the incident will not resolve by itself if b resolved too.
    await waitFor(
      async () =>
        (await (await fetch(`${bot.url}/metrics`)).text()).includes(
          'incident_bot_alertmanager_truncated_resolutions_total 1\n',
        ),
      5_000,
      'the truncated resolution counted',
    );
    expect(await groupState(bot, 'LeftOut')).toEqual({
      incidents: ['open'],
      alerts: [
        { instance: 'a', status: 'resolved' },
        { instance: 'b', status: 'firing' },
      ],
    });
    // A sender cannot mark a notification Alertmanager did not truncate: this one lists the whole group.
    await send({
      ...payload({ group: 'LeftOut', alerts: [{ instance: 'b', status: 'resolved' }] }),
      alertmanagerTruncated: true,
    });
    await waitFor(
      async () => (await groupState(bot, 'LeftOut')).incidents[0] === 'resolved',
      20_000,
      'the group resolved',
    );
  });
});
