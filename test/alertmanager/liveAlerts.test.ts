import { afterAll, beforeAll, expect, it } from 'vitest';
import { AlertmanagerApi } from '../../src/alertmanager/alertmanagerApi.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  type PostableAlert,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { unusedPort } from '../support/services.js';

/** What a truncated resolved notification leaves the bot to ask: which alerts of the group are live. */
describeWithAlertmanager("a group's live alerts, asked of a real HA pair", () => {
  let cluster: AlertmanagerCluster;
  beforeAll(async () => {
    const nowhere = `http://127.0.0.1:${await unusedPort()}/alertmanager`;
    cluster = await startAlertmanagerCluster({ webhookUrls: [nowhere, nowhere], token: 'x'.repeat(32) });
  }, 60_000);
  afterAll(() => cluster?.stop());

  const peerUrls = () => cluster.peers.map((peer) => `${peer.url}/`);
  // The peers have just started: taken at their word at once (alertmanager.alertsResentWithin: 0).
  const api = (urls: string[], alertsResentWithin = 0) =>
    new AlertmanagerApi(urls, undefined, 2_000, alertsResentWithin);
  const startsAt = new Date().toISOString();
  // A value the matcher syntax must escape: quotes, a backslash, a line break.
  const group = { alertname: 'LiveCheck', service: 'pay"ments\\api\nv2' };
  const alert = (instance: string, labels: Record<string, string> = group): PostableAlert => ({
    labels: { ...labels, instance },
    startsAt,
  });
  /** Each alert's fingerprint, by its instance, as a peer has it. */
  const fingerprints = async () => {
    const alerts = (await (await fetch(`${cluster.peers[0]!.url}/api/v2/alerts`)).json()) as Array<{
      fingerprint: string;
      labels: Record<string, string>;
    }>;
    return new Map(alerts.map((a) => [a.labels.instance!, a.fingerprint]));
  };

  it("lists the group's live alerts on any peer, and not those resolved or of another group", async () => {
    await cluster.fire([alert('pod-a'), alert('pod-b'), alert('pod-x', { ...group, service: 'payments' })]);
    // Prometheus sent this one to the first peer only (the second has just restarted, say).
    const onOne = alert('pod-c');
    const res = await fetch(`${cluster.peers[0]!.url}/api/v2/alerts`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([onOne]),
    });
    expect(res.status).toBe(200);
    await cluster.resolve([alert('pod-b')]);
    const ids = await fingerprints();

    const live = await api(peerUrls()).liveAlerts('incident-bot', group);
    expect([...live].sort()).toEqual([ids.get('pod-a'), ids.get('pod-c')].sort());
    // The receiver is matched as a name, not as a pattern.
    const other = await api(peerUrls()).liveAlerts('incident.bot', group);
    expect(other.size).toBe(0);
  });

  it('fails, rather than take a peer that has just started at its word, unless another has run longer', async () => {
    // An HA pair that just started (or restarted, say in a rollout) may not have every alert back yet.
    await expect(api(peerUrls(), 60_000).liveAlerts('incident-bot', group)).rejects.toMatchObject({
      code: 'ALERTMANAGER_UNSETTLED',
    });
  });

  it('fails, rather than leave an alert out, when a peer does not answer', async () => {
    const closed = `http://127.0.0.1:${await unusedPort()}/`;
    await expect(api([peerUrls()[0]!, closed]).liveAlerts('incident-bot', group)).rejects.toMatchObject({
      code: 'ALERTMANAGER_UNREACHABLE',
    });
  });
});
