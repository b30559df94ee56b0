import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { waitFor } from '../support/services.js';
import { clickButton, lastEphemeralTo, messageOf, SRE } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * Runbook 004's first moves as the root's buttons: a playbook matched by the alert offers its checks and
 * actions, runs its auto checks as the incident opens (once per service in a storm), and an action button
 * opens the same approval request as /action, its params filled from the alert's labels.
 */

interface Move {
  action_id: string;
  value: string;
  text: { text: string };
}

describe('playbooks', () => {
  let bot: TestBot;
  let endpoint: Server;
  const hits: string[] = [];

  beforeAll(async () => {
    endpoint = createServer((req, res) => {
      hits.push(req.url ?? '');
      res.end(JSON.stringify({ status: 'ok' }));
    });
    await new Promise<void>((resolve) => endpoint.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(endpoint.address() as AddressInfo).port}`;
    bot = await startTestBot({
      configYaml: `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    checks:
      - { name: health, kind: http, url: '${url}/health' }
      - { name: readiness, kind: http, url: '${url}/ready' }
    actions:
      - name: scale
        description: kubectl scale
        kind: scale
        driver: { type: command, argv: [/bin/true, '{{replicas}}'] }
        params: { replicas: { type: integer, min: 1, max: 20 } }
        approval: { approvers: [${SRE.bob}], required: 1 }
      - name: restart
        description: kubectl rollout restart
        kind: custom
        driver: { type: command, argv: [/bin/true] }
        approval: { approvers: [${SRE.bob}], required: 1 }
playbooks:
  - name: service-down
    matchers: ['alertname=~ServiceDown|HighErrorRate|PodCrashLooping']
    service: payments-api
    checks: [{ check: health, auto: true }, readiness]
    actions: [restart, { action: scale, params: { replicas: '{{labels.replicas}}' } }]
    autoChecksOncePer: 10m
`,
    });
  });
  afterAll(async () => {
    await bot?.stop();
    endpoint?.close();
  });

  const incidentOf = async (group: string) =>
    waitFor(
      async () =>
        (
          await bot.app.pool.query(
            "SELECT id::int AS id FROM incidents WHERE group_key LIKE '%' || $1 || '%' ORDER BY id DESC",
            [`alertname="${group}"`],
          )
        ).rows[0]?.id as number | undefined,
      20_000,
      `the incident of ${group}`,
    );
  const rootOf = (id: number) =>
    waitFor(
      async () => {
        const { messageTs } = await messageOf(bot, 'incident', id);
        return bot.slack.emulator.allMessages().find((m) => m.ts === messageTs);
      },
      20_000,
      `the root of INC-${id}`,
    );
  const movesOf = async (id: number): Promise<Move[]> => {
    const root = await rootOf(id);
    const block = (root!.blocks as Array<{ block_id?: string; elements?: Move[] }>).find(
      (b) => b.block_id === 'playbook_moves',
    );
    return block?.elements ?? [];
  };
  const healthResultsIn = (threadTs: string) =>
    bot.slack.emulator
      .allMessages()
      .filter((m) => m.threadTs === threadTs && JSON.stringify(m.blocks).includes('Health checks'));
  const count = async (table: string) =>
    Number((await bot.app.pool.query(`SELECT count(*) AS n FROM ${table}`)).rows[0].n);

  it('shows the playbook’s moves on the root, runs its auto checks once, and says why a move cannot run', async () => {
    await bot.deliver(payload({ group: 'ServiceDown', alerts: [{ instance: 'a' }] }));
    const id = await incidentOf('ServiceDown');
    const moves = await movesOf(id);
    expect(moves.map((m) => m.text.text)).toEqual([
      '🩺 Check health',
      '🩺 Check readiness',
      '🛠️ Request restart',
      '⚠️ Request scale',
    ]);
    const root = await rootOf(id);
    expect(JSON.stringify(root!.blocks)).toContain(
      "scale: needs the label `replicas`, which this incident's alerts do not share",
    );

    const { messageTs } = await messageOf(bot, 'incident', id);
    const result = await waitFor(() => healthResultsIn(messageTs)[0], 20_000, 'the auto checks');
    expect(JSON.stringify(result.blocks)).toContain('run by the playbook _service-down_ as it opened');
    expect(hits).toEqual(['/health']);
    // Recorded in the transaction after Slack's answer: a moment after the message is there.
    const rows = await waitFor(
      async () => {
        const { rows } = await bot.app.pool.query(
          "SELECT actor, data FROM timeline_entries WHERE incident_id = $1 AND kind = 'health_check'",
          [id],
        );
        return rows.length > 0 && rows;
      },
      20_000,
      'the timeline entry',
    );
    expect(rows).toMatchObject([
      { actor: 'incident-bot', data: { playbook: 'service-down', service: 'payments-api', status: 'ok' } },
    ]);

    // The unavailable move says why, to the clicker alone, and opens nothing.
    const requests = await count('action_requests');
    const scale = moves.find((m) => m.text.text.includes('scale'))!;
    expect(await clickButton(bot, scale.action_id, scale.value, { channel: root!.channel, messageTs })).toBe(
      200,
    );
    await waitFor(() => lastEphemeralTo(bot, SRE.alice).includes('cannot be requested'), 20_000, 'answer');
    expect(lastEphemeralTo(bot, SRE.alice)).toContain('needs the label `replicas`');
    expect(await count('action_requests')).toBe(requests);
  });

  it('in a storm, runs a service’s auto checks once and points the other incidents at them', async () => {
    const first = await incidentOf('ServiceDown');
    await bot.deliver(payload({ group: 'HighErrorRate', alerts: [{ instance: 'b' }] }));
    const second = await incidentOf('HighErrorRate');
    const { messageTs } = await messageOf(bot, 'incident', second);
    const result = await waitFor(() => healthResultsIn(messageTs)[0], 20_000, 'the covered note');
    expect(JSON.stringify(result.blocks)).toContain(
      `not run again for *payments-api*: they ran for INC-${first}`,
    );
    expect(hits).toEqual(['/health']);
  });

  it('a check button runs that one check in the thread; an action button opens an approval request for the incident', async () => {
    await bot.deliver(
      payload({ group: 'PodCrashLooping', alerts: [{ instance: 'c' }], commonLabels: { replicas: '6' } }),
    );
    const id = await incidentOf('PodCrashLooping');
    const root = await rootOf(id);
    const { messageTs } = await messageOf(bot, 'incident', id);
    const moves = await movesOf(id);
    const readiness = moves.find((m) => m.text.text === '🩺 Check readiness')!;
    hits.length = 0;
    expect(
      await clickButton(bot, readiness.action_id, readiness.value, { channel: root!.channel, messageTs }),
    ).toBe(200);
    await waitFor(
      () => healthResultsIn(messageTs).find((m) => JSON.stringify(m.blocks).includes('readiness')),
      20_000,
      'the readiness result',
    );
    expect(hits).toEqual(['/ready']);

    const scale = moves.find((m) => m.text.text === '🛠️ Request scale')!;
    expect(await clickButton(bot, scale.action_id, scale.value, { channel: root!.channel, messageTs })).toBe(
      200,
    );
    const request = await waitFor(
      async () =>
        (
          await bot.app.pool.query(
            `SELECT incident_id::int AS "incidentId", thread_ts AS "threadTs", params, status, requested_by AS "by"
               FROM action_requests WHERE action = 'scale'`,
          )
        ).rows[0],
      20_000,
      'the request',
    );
    expect(request).toEqual({
      incidentId: id,
      threadTs: messageTs,
      params: { replicas: 6 },
      status: 'pending',
      by: SRE.alice,
    });
    // Told once the request is written: the row can be read before the answer reaches Slack.
    await waitFor(
      () => lastEphemeralTo(bot, SRE.alice).includes(`scale on payments-api (replicas=6) for INC-${id}`),
      20_000,
      'the request named to who asked',
    );

    // Pressed again (by someone else, a new trigger_id): the request waiting is named, none is added.
    const requests = await count('action_requests');
    expect(
      await clickButton(bot, scale.action_id, scale.value, {
        channel: root!.channel,
        messageTs,
        user: SRE.carol,
      }),
    ).toBe(200);
    await waitFor(() => lastEphemeralTo(bot, SRE.carol).includes('asks for this already'), 20_000, 'refusal');
    expect(lastEphemeralTo(bot, SRE.carol)).toContain(`(requested by <@${SRE.alice}>)`);
    // Two people pressing at once: one request.
    const restart = moves.find((m) => m.text.text === '🛠️ Request restart')!;
    await Promise.all(
      [SRE.alice, SRE.carol].map((user) =>
        clickButton(bot, restart.action_id, restart.value, { channel: root!.channel, messageTs, user }),
      ),
    );
    const answered = () =>
      [SRE.alice, SRE.carol]
        .map((u) => lastEphemeralTo(bot, u))
        .filter((t) => /restart|asks for this/.test(t));
    await waitFor(() => answered().length === 2 || undefined, 20_000, 'both answered');
    expect(answered().filter((t) => t.includes('asks for this already'))).toHaveLength(1);
    expect(await count('action_requests')).toBe(requests + 1);
  });

  it('refuses a move button clicked anywhere but the incident’s root, and a forged value', async () => {
    const id = await incidentOf('ServiceDown');
    const requests = await count('action_requests');
    const [move] = await movesOf(id);
    expect(await clickButton(bot, move!.action_id, move!.value, { messageTs: '1.000001' })).toBe(200);
    await waitFor(() => lastEphemeralTo(bot, SRE.alice).includes('own message'), 20_000, 'refusal');
    const { channel, messageTs } = await messageOf(bot, 'incident', id);
    expect(
      await clickButton(bot, 'playbook_move_3', `${id}|action|rollback-everything`, { channel, messageTs }),
    ).toBe(200);
    await waitFor(() => lastEphemeralTo(bot, SRE.alice).includes('no longer offers'), 20_000, 'refusal');
    expect(
      await clickButton(bot, 'playbook_move_3', `${id}|action|scale --force`, { channel, messageTs }),
    ).toBe(200);
    await waitFor(
      () => lastEphemeralTo(bot, SRE.alice).includes('does not name an incident'),
      20_000,
      'refusal',
    );
    expect(await count('action_requests')).toBe(requests);
  });
});
