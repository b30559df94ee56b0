/**
 * A declare beside the floor of its own work (issue 18). The goal holds every ack, the writers' too, to
 * ×1.5 of the bare ack floor's p99; a writer must first commit what it answers, and queue what follows.
 * The work floor (floors/work-floor.mjs) is the bare ack floor doing that work before it acks: the bot's own
 * declare use case, one statement and one queue add. Beside both floors, by turns: `serve`, whose queue
 * workers take the Slack work the declares queue, and `serve --no-worker`, which leaves it queued, as the
 * work floor does. What the bot costs beyond the work floor is its own request path.
 */
import { randomBytes } from 'node:crypto';
import { startSlackEmulator } from '../src/sandbox/slackEmulator.js';
import {
  BOT_TOKEN,
  CATALOG,
  cpuDuring,
  percentile,
  processesNamed,
  REDIS_URL,
  SIGNING_SECRET,
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
  pathWarmUp,
  REWARM,
  RUNS,
  range,
  ratios,
  startFloor,
} from './floors.js';

interface Side {
  name: string;
  port: number;
  pid: number;
  /** Whether its answer is the bot's own (the bare ack floor answers nothing). */
  answers: boolean;
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
  const env = {
    SLACK_SIGNING_SECRET: SIGNING_SECRET,
    SLACK_BOT_TOKEN: BOT_TOKEN,
    SLACK_API_URL: slack.apiUrl,
  };
  try {
    // A database each: what one side declares is no other's work (a bot's syncs and sweeps read them all).
    await withDatabase((serveUrl) =>
      withDatabase((noWorkerUrl) =>
        withDatabase(async (workUrl) => {
          const prefix = () => `bench-${randomBytes(4).toString('hex')}`;
          const serve = await startBot(slack, serveUrl, prefix(), 1000, { yaml: CATALOG });
          const noWorker = await startBot(slack, noWorkerUrl, prefix(), 1000, {
            yaml: CATALOG,
            role: ['serve', '--no-worker'],
          });
          const plain = await startFloor('ack-floor.mjs', env);
          const work = await startFloor('work-floor.mjs', {
            ...env,
            DATABASE_URL: workUrl,
            REDIS_URL,
            QUEUE_PREFIX: prefix(),
          });
          const sides: Side[] = [
            { name: '`serve`', port: serve.port, pid: serve.child.pid!, answers: true },
            { name: '`serve --no-worker`', port: noWorker.port, pid: noWorker.child.pid!, answers: true },
            { name: 'the ack floor', port: plain.port, pid: plain.child.pid!, answers: false },
            {
              name: "the floor of a declare's own work",
              port: work.port,
              pid: work.child.pid!,
              answers: true,
            },
          ];
          try {
            // Each warmed as the floors bench warms its sides: the Slack path, then the command's own code.
            for (const side of sides) {
              await acks(side.port, ACK_PATH_WARM_UP, ACK_CONCURRENCY, pathWarmUp());
              await acks(side.port, ACK_WARM_UP, ACK_CONCURRENCY, request);
            }
            for (let run = 0; run < RUNS; run++) {
              const turn = run % sides.length;
              for (const side of [...sides.slice(turn), ...sides.slice(0, turn)]) {
                // `serve` goes on syncing the incidents declared before, at Slack's pace: every side is
                // measured with as much of that behind it as untilQuiet's 20 s leaves.
                await untilQuiet(serve.child.pid!);
                await acks(side.port, REWARM, ACK_CONCURRENCY, request);
                const { result, cpuMs } = await cpuDuring(
                  {
                    own: [side.pid],
                    postgres: await processesNamed('postgres'),
                    redis: await processesNamed('redis-server'),
                  },
                  () => acks(side.port, ACKS, ACK_CONCURRENCY, request),
                );
                const kept = figures.get(side.name) ?? {
                  p50: [],
                  p99: [],
                  failed: 0,
                  cpu: { own: [], postgres: [], redis: [] },
                };
                kept.p50.push(percentile(result, 0.5));
                kept.p99.push(percentile(result, 0.99));
                if (side.answers) kept.failed += result.failed ?? 0;
                kept.cpu.own.push(cpuMs.own / ACKS);
                kept.cpu.postgres.push(cpuMs.postgres / ACKS);
                kept.cpu.redis.push(cpuMs.redis / ACKS);
                figures.set(side.name, kept);
              }
            }
          } finally {
            for (const child of [serve.child, noWorker.child, plain.child, work.child]) await stop(child);
          }
        }),
      ),
    );
  } finally {
    await slack.close();
  }
  printWorkFloor(figures);
}

function printWorkFloor(figures: Map<string, SideFigures>): void {
  const plain = figures.get('the ack floor')!.p99;
  const work = figures.get("the floor of a declare's own work")!.p99;
  console.log(
    `\n## \`/incident declare\` beside the floor of its own work: ${RUNS} runs, by turns, ${ACKS} signed declares a side, ${ACK_CONCURRENCY} concurrent, each side warmed with ${ACK_PATH_WARM_UP} acks of its Slack path and ${ACK_WARM_UP} declares, and ${REWARM} more right before it is measured`,
  );
  console.log(
    '| side | p50 ms | p99 ms | CPU per ack, ms (its process / PostgreSQL / Redis) | p99 vs the ack floor (run by run) | p99 vs the floor of its work | failed |',
  );
  console.log('| --- | ---: | ---: | --- | --- | --- | ---: |');
  for (const [name, f] of figures)
    console.log(
      `| ${name} | ${range(f.p50, 0)} | ${range(f.p99, 0)} | ${range(f.cpu.own, 2)} / ${range(f.cpu.postgres, 2)} / ${range(f.cpu.redis, 2)} | ×${range(ratios(f.p99, plain), 2)} | ×${range(ratios(f.p99, work), 2)} | ${f.failed} |`,
    );
  console.log(
    `The floor of a declare's own work is the ack floor (a bare Bolt App) running the bot's own declare use case before it acks: one statement (the request's claim, the incident, its first timeline entry, on the bot's schema with its triggers) and one queue add (the incident's Slack sync), on a pool and Redis connection made as the bot's. Its p99 over the bare ack floor's, run by run, ×${range(ratios(work, plain), 2)}, is what that work alone costs an ack at ${ACK_CONCURRENCY} concurrent on this machine, against the goal's ×1.5. \`serve --no-worker\` leaves the declares' Slack syncs queued, as the work floor does; \`serve\` runs them (at Slack's pace for the channel) while every side is measured. Failed: answers other than "Declared INC-n" (an error, say), none counted for the bare ack floor, which answers nothing.`,
  );
}
