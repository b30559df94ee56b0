/**
 * npm run bench -- faults: the fault scenarios of test/faults at a larger size, and a long Slack outage.
 *
 * Each scenario runs on a deployment of its own (a database, a Redis prefix, a Slack emulator, `serve`
 * replicas as child processes) and gives one row (the store cuts count roots only, as their tests do): deliveries sent to the bot and accepted (answered
 * 2xx), lost (groups with an accepted delivery whose root message is missing or does not show the
 * group's final state), duplicate Slack messages (messages Postgres does not know: a second root, a
 * reply posted twice), and the time from the end of the fault until Slack showed everything.
 *
 * Options after `faults`: `--groups=N` (default 100), `--fault=5m` (how long each fault lasts),
 * `--only=name,name` (scenarios by name).
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { incidentsBehindSlack } from '../src/incidents/incidentStore.js';
import { Duration } from '../src/primitives/duration.js';
import {
  type RunningEmulator,
  type SlackEmulator,
  startSlackEmulator,
} from '../src/sandbox/slackEmulator.js';
import { payload } from '../test/support/alertmanager.js';
import { alertmanagerMissing, startAlertmanagerCluster } from '../test/support/alertmanagerCluster.js';
import { runStoreCut } from '../test/support/storeCut.js';
import { BOT_TOKEN, fmt, post, REDIS_URL, startBot, TEAMS, TOKEN, withDatabase } from './deployment.js';

export interface ScenarioOptions {
  groups: number;
  /** How long the fault lasts, where the scenario's fault has a length (an outage, a cut). */
  faultMs: number;
}

/** One row of the table. */
export interface FaultRow {
  sent: number;
  accepted: number;
  lost: number;
  duplicates: number;
  /** From the end of the fault until Slack showed everything; undefined if it never did. */
  catchUpMs?: number;
}

/**
 * One way production breaks. `measure` runs it and counts: either on a Deployment the bench makes
 * (onDeployment), or by a fault test's own scenario that reports the same figures (the store cuts).
 */
export interface FaultScenario {
  name: string;
  /** Why it cannot run here (a missing binary, say), or undefined: the row then says so. */
  unavailable?: () => string | undefined;
  measure(options: ScenarioOptions): Promise<FaultRow>;
}

export interface Replica {
  port: number;
  child: ChildProcess;
  /** SIGKILL, as a crash or the OOM killer would. */
  kill(): Promise<void>;
}

/** The group's final state, as its root message shows it. */
interface Expected {
  firing: number;
  resolved: number;
}

export class Deployment {
  private readonly replicas: Replica[] = [];
  private readonly fronts: Server[] = [];
  private readonly accepted = new Set<string>();
  private readonly expected = new Map<string, Expected>();
  sent = 0;
  acceptedCount = 0;
  faultEndedAt: number | undefined;

  readonly slack: SlackEmulator;

  constructor(
    private readonly running: RunningEmulator,
    readonly db: pg.Pool,
    private readonly databaseUrl: string,
    private readonly prefix: string,
  ) {
    this.slack = running.emulator;
  }

  /** `incident-bot serve` (worker in-process) sharing this deployment's database, Redis prefix and Slack. */
  async startReplica(): Promise<Replica> {
    const { port, child } = await startBot(this.running, this.databaseUrl, this.prefix, 1000);
    const replica: Replica = {
      port,
      child,
      kill: () => stopProcess(child, 'SIGKILL'),
    };
    this.replicas.push(replica);
    return replica;
  }

  /** Posts a notification as Alertmanager does; the bot's answer is counted. 0 when nothing answered. */
  async deliver(port: number, notification: ReturnType<typeof payload>): Promise<number> {
    const status = await post(port, JSON.stringify(notification)).then(
      (r) => r.status,
      () => 0,
    );
    this.count(notification.groupLabels.alertname!, status);
    return status;
  }

  /**
   * A port that relays Alertmanager's webhook to a replica and counts the bot's answers; 502 when the
   * replica does not answer, which Alertmanager retries.
   */
  async countingFront(targetPort: () => number): Promise<string> {
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', async () => {
        const body = Buffer.concat(chunks).toString('utf8');
        const status = await post(targetPort(), body).then(
          (r) => r.status,
          () => 0,
        );
        this.count(
          (JSON.parse(body) as { groupLabels: { alertname: string } }).groupLabels.alertname,
          status,
        );
        res.writeHead(status || 502).end();
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    this.fronts.push(server);
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/alertmanager`;
  }

  private count(group: string, status: number) {
    this.sent++;
    if (status >= 200 && status < 300) {
      this.acceptedCount++;
      this.accepted.add(group);
    }
  }

  /** What the group's root message must end up showing. */
  expect(group: string, firing: number, resolved: number): void {
    this.expected.set(group, { firing, resolved });
  }

  faultEnded(): void {
    this.faultEndedAt = performance.now();
  }

  /** Resolves once every expected group has its incident in PostgreSQL. */
  async untilStored(timeoutMs: number): Promise<void> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const { rows } = await this.db.query<{ n: number }>('SELECT count(*)::int AS n FROM incidents');
      if (rows[0]!.n >= this.expected.size) return;
      if (performance.now() > deadline) throw new Error('the groups never all had their incident');
      await sleep(100);
    }
  }

  /**
   * Deletes every key of this deployment's Redis prefix, its replicas running: a Redis back without its
   * data, for this deployment alone (the shared Redis is never flushed).
   */
  async emptyRedis(): Promise<number> {
    const redis = new Redis(REDIS_URL);
    try {
      let deleted = 0;
      for await (const keys of redis.scanStream({ match: `${this.prefix}:*`, count: 1000 }) as AsyncIterable<
        string[]
      >)
        if (keys.length > 0) deleted += await redis.unlink(...keys);
      return deleted;
    } finally {
      redis.disconnect();
    }
  }

  /** Groups accepted at least once whose root is missing or not in its expected state. */
  lostGroups(): string[] {
    const roots = this.slack.allMessages().filter((m) => !m.threadTs);
    return [...this.accepted].filter((group) => {
      const want = this.expected.get(group);
      const shown = `: ${want?.firing} firing, ${want?.resolved} resolved`;
      return !roots.some(
        (m) =>
          m.text.includes(group) && m.text.includes(shown) && m.text.startsWith(want?.firing ? '🔴' : '✅'),
      );
    });
  }

  /** Slack messages whose ts Postgres does not record: a second root, a reply posted twice. */
  async duplicates(): Promise<number> {
    const { rows } = await this.db.query<{ ts: string }>(
      'SELECT root_ts AS ts FROM incidents WHERE root_ts IS NOT NULL UNION SELECT slack_ts FROM timeline_entries WHERE slack_ts IS NOT NULL',
    );
    const known = new Set(rows.map((r) => r.ts));
    return this.slack.allMessages().filter((m) => !known.has(m.ts)).length;
  }

  /** Resolves once every expected group shows its final state and Postgres has nothing Slack lacks. */
  async untilSlackShowsAll(timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    while (performance.now() < deadline) {
      const missing = [...this.expected.keys()].filter((g) => !this.accepted.has(g)).length;
      if (
        missing === 0 &&
        this.lostGroups().length === 0 &&
        (await incidentsBehindSlack(this.db, 1)).length === 0
      )
        return true;
      await new Promise((r) => setTimeout(r, 100));
    }
    return false;
  }

  async stop(): Promise<void> {
    for (const server of this.fronts) await new Promise((resolve) => server.close(resolve));
    for (const { child } of this.replicas) await stopProcess(child, 'SIGTERM');
  }
}

async function stopProcess(child: ChildProcess, signal: NodeJS.Signals): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill(signal);
  await exited;
}

/** Two alerts of one group, firing or resolved, routed to one of the teams' channels. */
function notification(
  group: string,
  index: number,
  status: 'firing' | 'resolved',
  instances = ['pod-a', 'pod-b'],
) {
  const team = `team-${index % TEAMS}`;
  return payload({
    group,
    commonLabels: { team },
    alerts: instances.map((instance) => ({ name: group, instance, status, labels: { team } })),
  });
}

const groupName = (scenario: string, g: number) => `${scenario}${String(g).padStart(4, '0')}`;

/** Sends each notification from two HA peers, 16 at a time, as the storm bench does. */
async function deliverFromTwoPeers(
  deployment: Deployment,
  port: () => number,
  notifications: Array<ReturnType<typeof payload>>,
): Promise<Array<ReturnType<typeof payload>>> {
  const queue = notifications.flatMap((n) => [n, n]);
  const refused: Array<ReturnType<typeof payload>> = [];
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let n = queue.shift(); n; n = queue.shift()) {
        const status = await deployment.deliver(port(), n);
        if (status < 200 || status >= 300) refused.push(n);
      }
    }),
  );
  return refused;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const CATCH_UP_LIMIT_MS = 600_000;

/** A scenario run on a deployment of its own, measured by it once the scenario says the fault ended. */
function onDeployment(
  run: (deployment: Deployment, options: ScenarioOptions) => Promise<void>,
): (options: ScenarioOptions) => Promise<FaultRow> {
  return async (options) => {
    const slack = await startSlackEmulator({ token: BOT_TOKEN });
    try {
      return await withDatabase(async (url, db) => {
        const deployment = new Deployment(slack, db, url, `bench-${randomBytes(4).toString('hex')}`);
        try {
          await run(deployment, options);
          const caughtUp = await deployment.untilSlackShowsAll(CATCH_UP_LIMIT_MS);
          return {
            sent: deployment.sent,
            accepted: deployment.acceptedCount,
            lost: deployment.lostGroups().length,
            duplicates: await deployment.duplicates(),
            ...(caughtUp
              ? { catchUpMs: performance.now() - (deployment.faultEndedAt ?? performance.now()) }
              : {}),
          };
        } finally {
          await deployment.stop();
        }
      });
    } finally {
      await slack.close();
    }
  };
}

export const FAULT_SCENARIOS: FaultScenario[] = [
  {
    // Scenario 1 at length: every group fires during the outage, half of them resolve before it ends.
    name: 'slack-outage',
    measure: onDeployment(async (deployment, { groups, faultMs }) => {
      const replica = await deployment.startReplica();
      deployment.slack.outage(faultMs, 503);
      const started = performance.now();
      const names = Array.from({ length: groups }, (_, g) => groupName('Outage', g));
      await deliverFromTwoPeers(
        deployment,
        () => replica.port,
        names.map((name, g) => notification(name, g, 'firing')),
      );
      await sleep(faultMs / 2 - (performance.now() - started));
      const resolving = names.slice(0, groups / 2);
      await deliverFromTwoPeers(
        deployment,
        () => replica.port,
        resolving.map((name, g) => notification(name, g, 'resolved')),
      );
      names.forEach((name, g) => {
        deployment.expect(name, g < resolving.length ? 0 : 2, g < resolving.length ? 2 : 0);
      });
      await sleep(faultMs - (performance.now() - started));
      deployment.slack.endOutage();
      deployment.faultEnded();
    }),
  },
  {
    // Scenario 2 at size: three 429s (Retry-After: 2) per group to chat.postMessage while the groups fire
    // and grow; the fault ends with the last 429 answered.
    name: 'slack-429',
    measure: onDeployment(async (deployment, { groups }) => {
      const replica = await deployment.startReplica();
      const answers = 3 * groups;
      deployment.slack.failNext('chat.postMessage', { status: 429, retryAfterSeconds: 2 }, answers);
      const names = Array.from({ length: groups }, (_, g) => groupName('Limited', g));
      for (const instances of [['pod-a'], ['pod-a', 'pod-b']]) {
        await deliverFromTwoPeers(
          deployment,
          () => replica.port,
          names.map((name, g) => notification(name, g, 'firing', instances)),
        );
      }
      names.forEach((name) => {
        deployment.expect(name, 2, 0);
      });
      const limited = () =>
        deployment.slack.callsOf('chat.postMessage').filter((c) => c.status === 429).length;
      while (limited() < answers) await sleep(100);
      deployment.faultEnded();
    }),
  },
  {
    // Scenario 6 at size: two replicas, each fed by one of two clustered Alertmanager peers.
    name: 'two-replicas',
    unavailable: () => alertmanagerMissing,
    measure: onDeployment(async (deployment, { groups }) => {
      const replicas = [await deployment.startReplica(), await deployment.startReplica()];
      const cluster = await startAlertmanagerCluster({
        webhookUrls: await Promise.all(replicas.map((r) => deployment.countingFront(() => r.port))),
        token: TOKEN,
      });
      try {
        const names = Array.from({ length: groups }, (_, g) => groupName('Replicas', g));
        const alerts = names.flatMap((name, g) =>
          notification(name, g, 'firing').alerts.map(({ labels, annotations, startsAt }) => ({
            labels,
            annotations,
            startsAt,
          })),
        );
        for (const name of names) deployment.expect(name, 2, 0);
        await cluster.fire(alerts);
        if (!(await deployment.untilSlackShowsAll(300_000)))
          throw new Error('the groups never all fired in Slack');
        for (const name of names) deployment.expect(name, 0, 2);
        await cluster.resolve(alerts);
        deployment.faultEnded();
        // The peers send the resolved notifications at their next group_interval: wait for them here.
        await deployment.untilSlackShowsAll(300_000);
      } finally {
        await cluster.stop();
      }
    }),
  },
  {
    // Scenario 5's storm: SIGKILL at a random moment of the deliveries, a restart, Alertmanager's retries.
    name: 'kill-restart',
    measure: onDeployment(async (deployment, { groups }) => {
      let replica = await deployment.startReplica();
      const names = Array.from({ length: groups }, (_, g) => groupName('Killed', g));
      for (const name of names) deployment.expect(name, 2, 0);
      const killAfter = 200 + Math.random() * 2000;
      const killing = sleep(killAfter).then(() => replica.kill());
      const refused = await deliverFromTwoPeers(
        deployment,
        () => replica.port,
        names.map((name, g) => notification(name, g, 'firing')),
      );
      await killing;
      replica = await deployment.startReplica();
      deployment.faultEnded();
      // Alertmanager retries what got no 2xx.
      const groupsRefused = [...new Map(refused.map((n) => [n.groupLabels.alertname, n])).values()];
      await deliverFromTwoPeers(deployment, () => replica.port, groupsRefused);
    }),
  },
  {
    // Redis back without its data (a failover to a replica that was behind, a restart without persistence)
    // while Slack is away: the syncs waiting for Slack go with it, and the schedules of the sweeps that find
    // them again in PostgreSQL. Nothing is delivered after: only those sweeps can bring Slack up to date.
    name: 'redis-emptied',
    measure: onDeployment(async (deployment, { groups }) => {
      const replica = await deployment.startReplica();
      deployment.slack.outage(CATCH_UP_LIMIT_MS, 503);
      const names = Array.from({ length: groups }, (_, g) => groupName('Emptied', g));
      for (const name of names) deployment.expect(name, 2, 0);
      await deliverFromTwoPeers(
        deployment,
        () => replica.port,
        names.map((name, g) => notification(name, g, 'firing')),
      );
      await deployment.untilStored(60_000);
      if ((await deployment.emptyRedis()) === 0) throw new Error('the deployment had nothing in Redis');
      deployment.slack.endOutage();
      deployment.faultEnded();
    }),
  },
  // Scenarios 3 and 4 at length: the fault tests' own cut, with every group first firing during it.
  ...(['postgres', 'redis'] as const).map(
    (store): FaultScenario => ({
      name: `${store}-cut`,
      measure: async ({ groups, faultMs }) => {
        const report = await runStoreCut({
          store,
          outageMs: faultMs,
          inFlight: 8,
          firingDuringCut: groups,
          catchUpTimeoutMs: CATCH_UP_LIMIT_MS,
        });
        if (!report.alive) throw new Error(`the bot died during the cut: ${report.output.slice(-500)}`);
        return {
          sent: report.deliveriesSent,
          accepted: report.accepted,
          lost: report.lost,
          duplicates: report.duplicateRoots,
          ...(report.catchUpMs !== undefined ? { catchUpMs: report.catchUpMs } : {}),
        };
      },
    }),
  ),
];

export async function faultsBench(args: string[]): Promise<void> {
  const option = (name: string) => args.find((a) => a.startsWith(`--${name}=`))?.split('=')[1];
  const groups = Number(option('groups') ?? 100);
  const faultMs = Duration.parse(option('fault') ?? '5m');
  const only = option('only')?.split(',');
  console.log(
    `\n## Faults: ${groups} groups; faults last ${fmt(faultMs / 1000, 0)} s where they have a length`,
  );
  console.log(
    '| scenario | deliveries sent | accepted | lost | duplicate Slack messages | catch-up after the fault |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  for (const scenario of FAULT_SCENARIOS.filter((s) => !only || only.includes(s.name))) {
    const unavailable = scenario.unavailable?.();
    if (unavailable) {
      console.log(`| ${scenario.name} | skipped: ${unavailable} | | | | |`);
      continue;
    }
    try {
      const row = await scenario.measure({ groups, faultMs });
      const catchUp =
        row.catchUpMs === undefined ? `> ${CATCH_UP_LIMIT_MS / 1000} s` : `${fmt(row.catchUpMs / 1000)} s`;
      console.log(
        `| ${scenario.name} | ${row.sent} | ${row.accepted} | ${row.lost} | ${row.duplicates} | ${catchUp} |`,
      );
    } catch (err) {
      console.log(`| ${scenario.name} | failed: ${(err as Error).message} | | | | |`);
    }
  }
}
