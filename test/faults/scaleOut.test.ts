import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { incidentsBehindSlack } from '../../src/incidents/incidentStore.js';
import type { TimelineKind } from '../../src/primitives/timelineKind.js';
import { THREAD_KINDS } from '../../src/views/incident.js';
import { payload } from '../support/alertmanager.js';
import { type ChildBot, startChild, stopChild } from '../support/childWorker.js';
import { RECORDER } from '../support/rollouts.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0PAYMENTS';
const GROUPS = 12;
/** Each group grows by one alert a step, then resolves: every step is news, none a repeat. */
const STEPS = 4;
const group = (g: number) => `ScaleOut${String(g).padStart(2, '0')}`;
const pod = (i: number) => `pod-${i}`;

/** Step `step` (1…STEPS) of group `g`: pods 1…step firing; STEPS + 1: all of them resolved. */
function notification(g: number, step: number) {
  const resolved = step > STEPS;
  const pods = Array.from({ length: Math.min(step, STEPS) }, (_, i) => pod(i + 1));
  return payload({
    group: group(g),
    alerts: pods.map((instance) => ({
      name: group(g),
      instance,
      ...(resolved ? { status: 'resolved' as const } : {}),
    })),
  });
}

/** An action that only records its run: how often its driver ran is the number of lines in RUN_LOG. */
const restartConfig = `${DEFAULT_TEST_CONFIG}services:
  payments-api:
    actions:
      - name: restart
        description: Records that it ran
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, restart], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1 }
`;

/**
 * Issue 18, "scale-out stays honest": two `serve --no-worker` and two `worker` processes on one
 * PostgreSQL, one Redis prefix and one Slack. Every notification reaches both serve processes at once,
 * as two HA Alertmanager peers send it; commands and clicks land on either; one worker is SIGKILLed
 * mid-storm. Nothing is lost and nothing is done twice, in PostgreSQL or in Slack.
 */
describe('two serve and two worker processes on one PostgreSQL and Redis', () => {
  let bot: TestBot;
  let runLog: string;
  const serves: ChildBot[] = [];
  const workers: ChildBot[] = [];
  beforeAll(async () => {
    runLog = join(await mkdtemp(join(tmpdir(), 'scale-out-')), 'runs.jsonl');
    await writeFile(runLog, '');
    // Only the children work: the test's own bot gives them a database, a Redis prefix and a Slack.
    bot = await startTestBot({ worker: false, configYaml: restartConfig });
    const env = { RUN_LOG: runLog };
    const [s1, s2, w1, w2] = await Promise.all([
      startChild(bot, ['serve', '--no-worker'], env),
      startChild(bot, ['serve', '--no-worker'], env),
      startChild(bot, ['worker'], env),
      startChild(bot, ['worker'], env),
    ]);
    serves.push(s1!, s2!);
    workers.push(w1!, w2!);
  });
  afterAll(async () => {
    await Promise.all([...serves, ...workers].map((child) => stopChild(child.process)));
    await bot?.stop();
  });

  /** The bot as Slack reaches it through one serve process. */
  const via = (serve: ChildBot): TestBot => ({ ...bot, url: `http://127.0.0.1:${serve.port}` });
  /**
   * A notification as an Alertmanager peer sends it: a 5xx is sent again (the bot answers 503 when it
   * cannot store it now, and Alertmanager retries), a 2xx or 4xx is final. Resolves to the final status.
   */
  const deliver = async (serve: ChildBot, body: object) => {
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`http://127.0.0.1:${serve.port}/alertmanager`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}`,
        },
        body: JSON.stringify(body),
      });
      await res.text();
      if (res.status < 500 || attempt === 20) return res.status;
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };
  /** One step of every group, each notification sent to both serve processes at the same moment. */
  const round = (step: number) =>
    Promise.all(
      Array.from({ length: GROUPS }, (_, g) => {
        const body = notification(g, step);
        // The peer whose copy leaves first alternates, group by group and step by step.
        const [first, second] = (g + step) % 2 ? [serves[0]!, serves[1]!] : [serves[1]!, serves[0]!];
        return Promise.all([deliver(first, body), deliver(second, body)]);
      }),
    ).then((answers) => answers.flat());
  const runs = async () => (await readFile(runLog, 'utf8')).split('\n').filter(Boolean);
  /** PostgreSQL has nothing Slack does not show, and no job is left, a dead worker's included. */
  const settled = async () => {
    await waitFor(
      async () => (await incidentsBehindSlack(bot.app.pool, 1)).length === 0,
      45_000,
      'Slack to show all PostgreSQL holds',
    );
    const { slackSync, tasks, actions, escalation, pages } = bot.app;
    for (const queue of [slackSync, tasks, escalation, pages]) await waitForQueueIdle(queue, 45_000);
    // An action request's expiry waits for its window to close.
    await waitForQueueIdle(actions, 45_000, ['expire']);
  };

  it('keeps one incident, one root message and one timeline per group, and runs the action once', async () => {
    const [a, b] = serves as [ChildBot, ChildBot];
    const statuses: number[] = [];
    statuses.push(...(await round(1)));

    // An approval-gated action requested through one serve process, approved through both at once
    // (Slack delivering one click to each, or two approvers' clicks), with the storm going on.
    const requested = await slashCommand(via(a), 'restart payments-api', {
      command: '/action',
      user: SRE.alice,
    });
    const requestId = /Requested ACT-(\d+)/.exec(requested.text)?.[1];
    expect(requestId, requested.text).toBeDefined();
    const [approvals, second] = await Promise.all([
      Promise.all(
        [a, b].map((serve) =>
          clickOn(via(serve), 'request', requestId!, 'action_approve', { user: SRE.bob }),
        ),
      ),
      round(2),
    ]);
    expect(approvals).toEqual([200, 200]);
    statuses.push(...second);

    // Commands to both: a list from each, a note through each, and one note Slack retries through the other.
    // Answered is stored, not yet ingested: a serving process holds its ingest while a burst arrives.
    const noted = await waitFor(
      async () =>
        (
          await bot.app.pool.query<{ id: number }>(
            "SELECT id::int AS id FROM incidents WHERE group_labels->>'alertname' = $1",
            [group(0)],
          )
        ).rows[0]?.id,
      10_000,
      'the first group to have its incident',
    );
    const retried = { trigger: 'scale-out-retried-note', user: SRE.carol };
    const answers = await Promise.all([
      slashCommand(via(a), 'list'),
      slashCommand(via(b), 'list'),
      slashCommand(via(a), `note INC-${noted} through the first`),
      slashCommand(via(b), `note INC-${noted} through the second`),
      slashCommand(via(a), `note INC-${noted} retried by Slack`, retried),
      slashCommand(via(b), `note INC-${noted} retried by Slack`, {
        ...retried,
        headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' },
      }),
    ]);
    for (const answer of answers) expect(answer.status).toBe(200);
    for (const list of answers.slice(0, 2))
      expect(list.text + JSON.stringify(list.blocks)).toContain(`INC-${noted}`);

    const action = await waitFor(
      async () => {
        const { rows } = await bot.app.pool.query('SELECT status FROM action_requests WHERE id = $1', [
          Number(requestId),
        ]);
        return ['succeeded', 'failed'].includes(rows[0]?.status) ? rows[0].status : undefined;
      },
      30_000,
      `ACT-${requestId} to finish`,
    );
    expect(action).toBe('succeeded');

    // A worker SIGKILLed with replies it posted that it never heard Slack answer. Quiet first, so that the
    // next step's replies, one per group, are the only posts: more than one worker's 8 syncs at once, so
    // both workers hold some when Slack has carried them all out.
    await settled();
    const held = Array.from({ length: GROUPS }, () => bot.slack.emulator.holdAnswer('chat.postMessage'));
    const third = round(3);
    await Promise.all(held.map((h) => h.reached));
    await stopChild(workers[0]!.process, 'SIGKILL');
    for (const h of held) h.release();
    statuses.push(...(await third));
    for (let step = 4; step <= STEPS + 1; step++) statuses.push(...(await round(step)));
    // Every notification, each copy of it, was stored in the end: 200, after a 503 sent again at most.
    expect(statuses.filter((s) => s !== 200)).toEqual([]);

    // What the dead worker held is taken up too, once its lock runs out, and finds nothing left to do.
    await settled();

    // PostgreSQL: one incident per group, resolved, every alert firing and resolving once on its timeline.
    const { rows: incidents } = await bot.app.pool.query<{
      id: number;
      alertname: string;
      state: string;
      rootTs: string;
    }>(
      `SELECT id::int AS id, group_labels->>'alertname' AS alertname, state, root_ts AS "rootTs"
         FROM incidents ORDER BY alertname`,
    );
    expect(incidents.map((i) => [i.alertname, i.state])).toEqual(
      Array.from({ length: GROUPS }, (_, g) => [group(g), 'resolved']),
    );
    const { rows: entries } = await bot.app.pool.query<{
      incidentId: number;
      kind: TimelineKind;
      instance: string | null;
      text: string | null;
      slackTs: string | null;
    }>(
      `SELECT t.incident_id::int AS "incidentId", t.kind, a.labels->>'instance' AS instance,
              t.data->>'text' AS text, t.slack_ts AS "slackTs"
         FROM timeline_entries t LEFT JOIN alerts a ON a.fingerprint = t.data->>'fingerprint'
        ORDER BY t.id`,
    );
    const pods = Array.from({ length: STEPS }, (_, i) => pod(i + 1));
    for (const incident of incidents) {
      const own = entries.filter((e) => e.incidentId === incident.id);
      const told = (kind: TimelineKind) =>
        own
          .filter((e) => e.kind === kind)
          .map((e) => e.instance ?? e.text)
          .sort();
      expect(told('incident_opened'), incident.alertname).toHaveLength(1);
      expect(told('alert_firing'), incident.alertname).toEqual(pods);
      expect(told('alert_resolved'), incident.alertname).toEqual(pods);
      expect(told('incident_resolved'), incident.alertname).toHaveLength(1);
      expect(told('note'), incident.alertname).toEqual(
        incident.id === noted ? ['retried by Slack', 'through the first', 'through the second'] : [],
      );
    }

    // Slack: one root per incident, the one PostgreSQL names, showing the group resolved.
    const roots = bot.slack.emulator.channelMessages(CHANNEL);
    expect(roots.map((m) => m.ts).sort()).toEqual(incidents.map((i) => i.rootTs).sort());
    for (const incident of incidents) {
      const root = bot.slack.emulator.message(CHANNEL, incident.rootTs)!;
      expect(root.text, incident.alertname).toContain(`0 firing, ${STEPS} resolved`);
      // Its thread: each reply is where PostgreSQL says some entries were shown, and every entry the
      // thread tells was shown, in exactly one reply. A reply posted twice would be shown by no entry.
      const thread = bot.slack.emulator.threadOf(CHANNEL, incident.rootTs);
      const own = entries.filter((e) => e.incidentId === incident.id);
      expect(
        own.filter((e) => e.slackTs === null),
        incident.alertname,
      ).toEqual([]);
      const shownIn = new Set(own.filter((e) => THREAD_KINDS.has(e.kind)).map((e) => e.slackTs));
      shownIn.delete(incident.rootTs);
      expect(thread.map((m) => m.ts).sort(), incident.alertname).toEqual([...shownIn].sort());
      for (const entry of own.filter((e) => e.kind === 'alert_firing')) {
        const reply = thread.find((m) => m.ts === entry.slackTs);
        if (reply) expect(JSON.stringify(reply.blocks), incident.alertname).toContain(entry.instance);
      }
    }

    // The action: its driver ran once, through two clicks on two serve processes and two workers.
    expect(await runs()).toHaveLength(1);
    expect(workers[0]!.process.signalCode).toBe('SIGKILL');
    expect(workers[1]!.process.exitCode).toBeNull();
  });
});
