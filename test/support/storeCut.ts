import { expect } from 'vitest';
import { incidentsBehindSlack } from '../../src/incidents/incidentStore.js';
import { payload } from './alertmanager.js';
import { type ChildBot, startChild, stopChild } from './childWorker.js';
import { waitFor } from './services.js';
import { slashCommand } from './slackRequests.js';
import { startTcpProxy, type TcpProxy } from './tcpProxy.js';
import { DEFAULT_TEST_CONFIG, startTestBot, TEST_SECRETS, type TestBot } from './testBot.js';

/**
 * Fault scenarios 3 and 4 of issue 13: PostgreSQL or Redis cut away from a running `incident-bot serve`
 * while its syncs are talking to Slack, then given back. The scenario measures and reports; the fault
 * tests assert on the report, and a bench can run it with a longer outage and more groups.
 */

export type Store = 'postgres' | 'redis';

export interface StoreCutOptions {
  store: Store;
  outageMs: number;
  /** Groups already in Slack whose update is inside a Slack call when the cut comes (up to 8). */
  inFlight: number;
  /** Groups that first fire during the cut, delivered again every second as Alertmanager retries. */
  firingDuringCut: number;
  /** How long after the restore Slack may take to catch up before the scenario gives up. */
  catchUpTimeoutMs?: number;
}

export interface StoreCutReport {
  /** False when the bot process exited at any point. */
  alive: boolean;
  /** Every answer /alertmanager gave during the cut, by status ('no answer' for a request that failed). */
  webhookDuringCut: Record<string, number>;
  readyzDuringCut: Record<string, number>;
  /** Each /incident list asked during the cut (it needs only PostgreSQL): how long it took, what it said. */
  listDuringCut: CommandDuringCut[];
  /** Each /health asked during the cut (it needs both stores: it records the request, queues the checks). */
  healthDuringCut: CommandDuringCut[];
  deliveriesSent: number;
  /** Deliveries /alertmanager answered 200 (stored), during the cut and after it. */
  accepted: number;
  /** Groups with no root message in Slack at the end. */
  lost: number;
  /** Root messages beyond one per group. */
  duplicateRoots: number;
  /** From the restore until every group showed its last state in Slack; undefined if it never did. */
  catchUpMs?: number;
  /** The bot's log, for a failure's message. */
  output: string;
}

export interface CommandDuringCut {
  status: number;
  ms: number;
  text: string;
}

const CHANNEL = 'C0PAYMENTS';
/** A service for /health; its check never runs while the cut lasts. */
const CONFIG = `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    checks:
      - { name: port, kind: tcp, host: 127.0.0.1, port: 9 }
`;

/**
 * What either cut must leave: the process alive, Alertmanager never told a 4xx (which drops the
 * notification): without PostgreSQL told to retry (never a 200 for what could not be stored), without
 * Redis told 200 for what was stored; not ready, and afterwards Slack caught up.
 */
export function expectSurvived(report: StoreCutReport, store: Store): void {
  expect(report.alive, report.output.slice(-3000)).toBe(true);
  expect(Object.keys(report.webhookDuringCut)).toEqual([store === 'postgres' ? '503' : '200']);
  expect(Object.keys(report.readyzDuringCut)).toEqual(['503']);
  expect(report.lost).toBe(0);
  expect(report.duplicateRoots).toBe(0);
  expect(report.catchUpMs, report.output.slice(-3000)).toBeDefined();
  // Slack shows "operation_timeout" to whoever typed a command not answered within 3 s.
  for (const answers of [report.listDuringCut, report.healthDuringCut]) {
    expect(answers.length).toBeGreaterThan(0);
    for (const answer of answers) expect(answer.status).toBe(200);
    expect(Math.max(...answers.map((answer) => answer.ms))).toBeLessThan(3000);
  }
  for (const health of report.healthDuringCut)
    expect(health.text).toMatch(/not answering right now\. Try again/);
}

/** `incident-bot serve` as a child process of the test bot, reaching PostgreSQL or Redis through a proxy. */
export async function serveBehindProxy(
  bot: TestBot,
  store: Store,
  extraEnv: Record<string, string> = {},
): Promise<{ child: ChildBot; proxy: TcpProxy; url: string }> {
  const envName = store === 'postgres' ? 'DATABASE_URL' : 'REDIS_URL';
  const target = new URL(bot.env[envName]!);
  const proxy = await startTcpProxy(target.hostname, Number(target.port));
  const proxied = new URL(target);
  proxied.host = `127.0.0.1:${proxy.port}`;
  try {
    const child = await startChild(bot, ['serve'], { ...extraEnv, [envName]: proxied.toString() });
    return { child, proxy, url: `http://127.0.0.1:${child.port}` };
  } catch (err) {
    await proxy.close();
    throw err;
  }
}

export async function runStoreCut(options: StoreCutOptions): Promise<StoreCutReport> {
  const bot = await startTestBot({ worker: false, configYaml: CONFIG });
  try {
    const { child, proxy, url } = await serveBehindProxy(bot, options.store);
    try {
      return await scenario(bot, child, proxy, url, options);
    } finally {
      await stopChild(child.process, 'SIGKILL');
      await proxy.close();
    }
  } finally {
    await bot.stop();
  }
}

async function scenario(
  bot: TestBot,
  child: ChildBot,
  proxy: TcpProxy,
  url: string,
  options: StoreCutOptions,
): Promise<StoreCutReport> {
  const slack = bot.slack.emulator;
  const alive = () => child.process.exitCode === null && child.process.signalCode === null;
  let deliveriesSent = 0;
  let accepted = 0;
  const deliver = async (group: string, instances: number): Promise<number | 'no answer'> => {
    deliveriesSent++;
    const body = payload({
      group,
      alerts: Array.from({ length: instances }, (_, i) => ({ instance: `pod-${i + 1}` })),
    });
    try {
      const res = await fetch(`${url}/alertmanager`, {
        method: 'POST',
        headers: {
          authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}`,
          'content-type': 'application/json',
        },
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(10_000),
      });
      await res.arrayBuffer();
      if (res.status === 200) accepted++;
      return res.status;
    } catch {
      return 'no answer';
    }
  };
  const rootsOf = (group: string) =>
    slack.channelMessages(CHANNEL).filter((m) => !m.threadTs && JSON.stringify(m.blocks).includes(group));

  const inFlight = Array.from({ length: options.inFlight }, (_, i) => `Cut${i + 1}InFlight`);
  const firing = Array.from({ length: options.firingDuringCut }, (_, i) => `Cut${i + 1}Firing`);
  // Before the cut: each group in Slack, then a second alert whose sync is held inside chat.update.
  for (const group of inFlight) if ((await deliver(group, 1)) !== 200) throw new Error(`${group} refused`);
  await waitFor(() => inFlight.every((g) => rootsOf(g).length === 1), 30_000, 'the first roots');
  const holds = inFlight.map(() => slack.hold('chat.update'));
  for (const group of inFlight) if ((await deliver(group, 2)) !== 200) throw new Error(`${group} refused`);
  await Promise.all(holds.map((h) => h.reached));

  const webhookDuringCut: Record<string, number> = {};
  const readyzDuringCut: Record<string, number> = {};
  const listDuringCut: CommandDuringCut[] = [];
  const healthDuringCut: CommandDuringCut[] = [];
  const ask = async (command: string, text: string): Promise<CommandDuringCut> => {
    const asked = performance.now();
    const answer = await slashCommand({ ...bot, url }, text, { command }).catch(() => ({
      status: 0,
      text: 'no answer',
    }));
    return { status: answer.status, ms: Math.round(performance.now() - asked), text: answer.text };
  };
  const count = (tally: Record<string, number>, key: number | string) => {
    tally[key] = (tally[key] ?? 0) + 1;
  };
  const cutAt = Date.now();
  proxy.cut();
  // The held Slack calls answer now: their syncs go on to record what they did, on the cut connections.
  for (const hold of holds) hold.release();
  let stillAlive = true;
  while (Date.now() - cutAt < options.outageMs) {
    const round = Date.now();
    for (const group of firing) count(webhookDuringCut, await deliver(group, 1));
    count(
      readyzDuringCut,
      await fetch(`${url}/readyz`, { signal: AbortSignal.timeout(10_000) }).then(
        (res) => res.status,
        () => 'no answer',
      ),
    );
    listDuringCut.push(await ask('/incident', 'list'));
    healthDuringCut.push(await ask('/health', 'payments-api'));
    stillAlive &&= alive();
    if (!stillAlive) break;
    await new Promise((r) => setTimeout(r, Math.max(0, 1000 - (Date.now() - round))));
  }
  proxy.restore();
  const restoredAt = Date.now();
  const groups = [...inFlight, ...firing];
  const report = (catchUpMs?: number): StoreCutReport => ({
    alive: stillAlive && alive(),
    webhookDuringCut,
    readyzDuringCut,
    listDuringCut,
    healthDuringCut,
    deliveriesSent,
    accepted,
    lost: groups.filter((g) => rootsOf(g).length === 0).length,
    duplicateRoots: groups.reduce((n, g) => n + Math.max(0, rootsOf(g).length - 1), 0),
    ...(catchUpMs !== undefined ? { catchUpMs } : {}),
    output: child.output(),
  });
  if (!stillAlive) return report();

  // Alertmanager retries what it was refused until it is accepted.
  const refused = new Set(firing);
  await waitFor(
    async () => {
      for (const group of [...refused]) if ((await deliver(group, 1)) === 200) refused.delete(group);
      return refused.size === 0;
    },
    60_000,
    'the webhook to accept the deliveries refused during the cut',
  ).catch(() => undefined);

  // Slack shows every group's last state, and PostgreSQL records that it does.
  const caughtUp = async () =>
    inFlight.every((g) => {
      const roots = rootsOf(g);
      return roots.length >= 1 && roots.every((r) => JSON.stringify(r.blocks).includes('2 firing'));
    }) &&
    firing.every((g) => rootsOf(g).length >= 1) &&
    (await incidentsBehindSlack(bot.app.pool, 1)).length === 0;
  const catchUpMs = await waitFor(
    async () => (await caughtUp()) && Date.now() - restoredAt,
    options.catchUpTimeoutMs ?? 60_000,
    'Slack to catch up',
  ).catch(() => undefined);
  return report(catchUpMs);
}
