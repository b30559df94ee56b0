/**
 * A declare beside the floor of its own work (issue 18). The goal holds every ack, the writers' too, to
 * ×1.5 of the bare ack floor's p99; a writer must first commit what it answers, and queue what follows.
 * The work floor (floors/work-floor.mjs) is the bare ack floor doing that work before it acks: the bot's own
 * declare use case, one statement and one queue add. Beside both floors, by turns: `serve --no-worker`,
 * which leaves the declares' Slack syncs queued, as the work floor does, and `serve`, whose queue workers
 * run them (at Slack's pace for the channel) while every side is measured.
 */

import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { startSlackEmulator } from '../src/sandbox/slackEmulator.js';
import {
  BOT_TOKEN,
  CATALOG,
  percentile,
  processesNamed,
  REDIS_URL,
  startBot,
  stop,
  untilQuiet,
  withDatabase,
} from './deployment.js';
import {
  ACK_CONCURRENCY,
  ACK_PATH_WARM_UP,
  ACK_WARM_UP,
  ACKS,
  acks,
  COMMANDS,
  commandForm,
  floorSlackEnv,
  pathWarmUp,
  REWARM,
  RUNS,
  range,
  ratios,
  rewarmedAcks,
  type Sent,
  startFloor,
} from './floors.js';

const SERVE = '`serve`';
const NO_WORKER = '`serve --no-worker`';
const ACK_FLOOR = 'the ack floor';
const WORK_FLOOR = "the floor of a declare's own work";

interface Side {
  name: string;
  port: number;
  pid: number;
  /** Whether its answers are checked (the bare ack floor answers nothing: none would match). */
  checked: boolean;
}

interface SideFigures {
  p50: number[];
  p99: number[];
  failed: number;
  /** CPU per measured ack, ms: the side's own process, PostgreSQL's, Redis's. */
  cpu: { own: number[]; postgres: number[]; redis: number[] };
}

export async function workFloorBench(): Promise<void> {
  const slack = await startSlackEmulator({ token: BOT_TOKEN });
  const declare = COMMANDS.find((c) => c.name === '/incident declare')!;
  const request = (i: number) => commandForm(declare.typed, i);
  const figures = new Map<string, SideFigures>();
  /** Measurements begun with `serve` or PostgreSQL still busy after untilQuiet's 20 s. */
  let busy = 0;
  try {
    // A database each: what one side declares is no other's work (a bot's syncs and sweeps read them all).
    await withDatabase((serveUrl) =>
      withDatabase((noWorkerUrl) =>
        withDatabase(async (workUrl) => {
          const prefix = () => `bench-${randomBytes(4).toString('hex')}`;
          const children: ChildProcess[] = [];
          const sides: Side[] = [];
          const started = (name: string, checked: boolean, side: { port: number; child: ChildProcess }) => {
            children.push(side.child);
            sides.push({ name, port: side.port, pid: side.child.pid!, checked });
            figures.set(name, { p50: [], p99: [], failed: 0, cpu: { own: [], postgres: [], redis: [] } });
          };
          try {
            started(SERVE, true, await startBot(slack, serveUrl, prefix(), 1000, { yaml: CATALOG }));
            started(
              NO_WORKER,
              true,
              await startBot(slack, noWorkerUrl, prefix(), 1000, {
                yaml: CATALOG,
                role: ['serve', '--no-worker'],
              }),
            );
            started(ACK_FLOOR, false, await startFloor('ack-floor.mjs', floorSlackEnv(slack)));
            started(
              WORK_FLOOR,
              true,
              await startFloor('work-floor.mjs', {
                ...floorSlackEnv(slack),
                DATABASE_URL: workUrl,
                REDIS_URL,
                QUEUE_PREFIX: prefix(),
              }),
            );
            const serve = sides[0]!.pid;
            // Each warmed alike: its Slack path, as the floors bench warms every process's, then declares.
            for (const side of sides) {
              await acks(side.port, ACK_PATH_WARM_UP, ACK_CONCURRENCY, pathWarmUp());
              await acks(side.port, ACK_WARM_UP, ACK_CONCURRENCY, request);
            }
            for (let run = 0; run < RUNS; run++) {
              // Forwards, then backwards: each side goes before each other in one run and after it in
              // another (with three runs, two to one).
              for (const side of run % 2 === 0 ? sides : [...sides].reverse()) {
                // `serve` goes on syncing the incidents declared before, at Slack's pace: every side is
                // measured with as much of that behind it as untilQuiet's 20 s leaves (it waits for
                // `serve` and PostgreSQL both).
                if (!(await untilQuiet(serve))) busy++;
                record(figures.get(side.name)!, side, await measured(side, request));
              }
            }
          } finally {
            for (const child of children) await stop(child);
          }
        }),
      ),
    );
  } finally {
    await slack.close();
  }
  printWorkFloor(figures, busy);
}

/** A side's measured acks, once re-warmed, and the CPU its process, PostgreSQL and Redis spent on them. */
function measured(side: Side, request: (i: number) => Sent) {
  return rewarmedAcks(side.port, ACKS, request, async () => ({
    own: [side.pid],
    postgres: await processesNamed('postgres'),
    redis: await processesNamed('redis-server'),
  }));
}

function record(kept: SideFigures, side: Side, { result, cpuMs }: Awaited<ReturnType<typeof measured>>) {
  kept.p50.push(percentile(result, 0.5));
  kept.p99.push(percentile(result, 0.99));
  if (side.checked) kept.failed += result.failed ?? 0;
  kept.cpu.own.push(cpuMs.own / ACKS);
  kept.cpu.postgres.push(cpuMs.postgres / ACKS);
  kept.cpu.redis.push(cpuMs.redis / ACKS);
}

function printWorkFloor(figures: Map<string, SideFigures>, busy: number): void {
  const plain = figures.get(ACK_FLOOR)!.p99;
  const work = figures.get(WORK_FLOOR)!.p99;
  console.log(
    `\n## \`/incident declare\` beside the floor of its own work: ${RUNS} runs, by turns, ${ACKS} signed declares a side, ${ACK_CONCURRENCY} concurrent, each side warmed with ${ACK_PATH_WARM_UP} acks of its Slack path and ${ACK_WARM_UP} declares, and ${REWARM} more right before it is measured`,
  );
  console.log(
    '| side | p50 ms | p99 ms | CPU per ack, ms (its process / PostgreSQL / Redis) | p99 vs the ack floor (run by run) | p99 vs the floor of its work (run by run) | failed (all runs) |',
  );
  console.log('| --- | ---: | ---: | --- | --- | --- | ---: |');
  for (const [name, f] of figures) {
    const vsPlain = name === ACK_FLOOR ? '' : `×${range(ratios(f.p99, plain), 2)}`;
    const vsWork = name === ACK_FLOOR || name === WORK_FLOOR ? '' : `×${range(ratios(f.p99, work), 2)}`;
    const failed = name === ACK_FLOOR ? '' : String(f.failed);
    console.log(
      `| ${name} | ${range(f.p50, 0)} | ${range(f.p99, 0)} | ${range(f.cpu.own, 2)} / ${range(f.cpu.postgres, 2)} / ${range(f.cpu.redis, 2)} | ${vsPlain} | ${vsWork} | ${failed} |`,
    );
  }
  console.log(
    `The floor of a declare's own work is the ack floor (a bare Bolt App) running the bot's own declare use case before it acks: one statement (the request's claim, the incident, its first timeline entry, on the bot's schema with its triggers) and one queue add (the incident's Slack sync), on a pool and a Redis connection made as the bot's. Its p99 over the bare ack floor's, run by run, ×${range(ratios(work, plain), 2)}, is what that work alone costs an ack at ${ACK_CONCURRENCY} concurrent on this machine, against the goal's ×1.5. A bot's p99 over the work floor's is what it adds to that work: its own request path (its receiver, parsing, routing, log lines), the change notifications the triggers send it (it keeps reads in memory by them; no one listens to the work floor's), its timers, and for \`serve\` its queue workers (the Slack syncs of the incidents declared, the sweeps) running meanwhile. PostgreSQL's and Redis's CPU counts all of their processes, so every row's holds whatever else ran while it was measured (for the ack floor, all of its figures there): \`serve\`'s workers above all. Failed: answers other than "Declared INC-n" (an error, say); the ack floor's answers are not checked. Measurements begun with \`serve\` or PostgreSQL still busy after 20 s: ${busy}.`,
  );
}
