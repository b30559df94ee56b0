/**
 * The floors (issue 18): the bot's webhook and acks measured beside the least their job needs, in the
 * same run on the same machine, by turns (the webhook's windows in an order turning from window to window;
 * each slash command A B, then B A in the next run), so that a machine busy for a moment weighs on both.
 *   - edge floor: bench/floors/edge-floor.mjs (parse, one INSERT, 200). The bot's queue is the table it
 *     stores into, so its floor pushes nothing to Redis, as the issue says of such a receiver; the floor
 *     that does (one Redis push more) is printed for reference;
 *   - ack floor: bench/floors/ack-floor.mjs (a bare Bolt App that only acks, behind its signature check),
 *     and the same committing one INSERT before it acks: the floor of a listener that writes. Both run
 *     beside each bot that takes slash commands or clicks, and are measured beside each of its rows.
 * The changing deliveries also go into `serve --no-worker`, to tell the webhook's own cost from what the
 * queue workers beside it in `serve` take from it.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { type RunningEmulator, startSlackEmulator } from '../src/sandbox/slackEmulator.js';
import { payload } from '../test/support/alertmanager.js';
import {
  clickMatrix,
  FAILED_ACK,
  type Floors,
  type FloorsBeside,
  type ListenerFigures,
  OTHER_SILENCES,
  RESULT_WAIT_MS,
  unansweredPayloads,
} from './clicks.js';
import {
  BOT_TOKEN,
  CATALOG,
  cpuDuring,
  fmt,
  percentile,
  processesNamed,
  REDIS_URL,
  runConcurrently,
  SIGNING_SECRET,
  slackRequest,
  startBot,
  stop,
  TEAMS,
  untilConsistent,
  untilQuiet,
  withDatabase,
} from './deployment.js';

export const RUNS = 3;
const GROUPS = 100;
const STEPS = 8;
const SENDERS = 16;
/**
 * Windows of changing deliveries each side (the bot, each edge floor beside it) is measured on in a run, by
 * turns: the run's figure is their median. One window is 800 deliveries, well under a second: one of them
 * read anywhere from ×0.57 to ×0.82 of the floor's throughput from run to run.
 */
const WINDOWS = 3;
/** Deliveries each side is sent again right before each of its windows (repeats of what the bot shows). */
const REWARM_WINDOW = 800;
/** The longest wait for Slack to show a window's changes (about two minutes: chat.update's 50 a minute). */
const SLACK_CATCH_UP_MS = 5 * 60_000;
/** Acks a command's row and its floors beside it are measured on: the p99 is the tenth largest. */
export const ACKS = 1000;
export const ACK_CONCURRENCY = 50;
/**
 * Requests each process serves before a path is measured. The bot's code warms slowly: in scratch runs,
 * its repeats went from 1,050/s to 1,750/s over their first 4,800 (V8 optimising as it goes), so a few
 * hundred measure a process that has just started, not one that has served for hours. 1,600 was still
 * short: in scratch runs, 4,000 settled repeats measured after 1,600 ran at 2,824–3,788/s, after 4,800 at
 * 3,685–4,448/s; the edge floor's changing deliveries, warmed as much, at 1,744–2,348/s and
 * 2,943–3,011/s. The floors are warmed as much as the bot (the edge floors' warm-ups all insert, into one
 * table: their windows are measured on 9,600 rows and more beside `serve`, where both run, 5,600 and more
 * beside `serve --no-worker`). Before its changing deliveries the bot gets 200 changes (100 groups over two steps, whose incidents Slack, under
 * its limits, takes minutes to show), then repeats of each group's last, answered as duplicates: they
 * warm the webhook's reading and answering, not its insert or the ingest.
 */
const WARM_UP = 4800;
/**
 * Repeats measured once Slack is up to date: 4,000, each group's last 40 times. 800 took about 0.3 s, and
 * the same bot's figure moved by half from one such measurement to the next.
 */
const SETTLED_REPEATS = 4000;
/** Acks a command's own code is warmed with before its row (as a process that has served for hours). */
export const ACK_WARM_UP = 1000;
/**
 * Acks a process's Slack path (receiver, signature, Bolt) is warmed with before its first row, the
 * floors' whole path: in a scratch run, the ack floor's p99 went from 80–90 ms after 200 acks to 36–51 ms
 * after 2,000 (its own CPU per ack from 0.65 to 0.2–0.25 ms). Warmed with 200, the floors flattered the
 * bot, whose Slack path had served many more before its rows.
 */
export const ACK_PATH_WARM_UP = 4000;
/**
 * Acks each side serves again right before it is measured (the bot, of the row's command; a floor, of the
 * row's requests), after the seconds it sat idle while the other was measured or the bot came to rest.
 */
export const REWARM = 200;

/** A floor as a child process: it prints {"port":…} once listening. */
export async function startFloor(
  script: string,
  env: Record<string, string>,
): Promise<{ port: number; child: ChildProcess }> {
  const child = spawn(process.execPath, [new URL(`./floors/${script}`, import.meta.url).pathname], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffer += chunk.toString();
      const found = /\{"port":(\d+)\}/.exec(buffer);
      if (found) resolve(Number(found[1]));
    });
    child.on('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
  });
  return { port, child };
}

/** 100 groups growing one alert a step over 8 steps: every delivery changes its incident. */
function changingDeliveries(label: string): string[] {
  const bodies: string[] = [];
  for (let step = 1; step <= STEPS; step++)
    for (let g = 0; g < GROUPS; g++) {
      const team = `team-${g % TEAMS}`;
      bodies.push(
        JSON.stringify(
          payload({
            group: `Floor${label}x${g}`,
            commonLabels: { team },
            alerts: Array.from({ length: step }, (_, i) => ({ instance: `host-${i}`, labels: { team } })),
          }),
        ),
      );
    }
  return bodies;
}

/**
 * Warms a bot for its changing deliveries (see WARM_UP), with groups other than those measured in the same
 * run: 200 changes, and once they are ingested, repeats of each group's last up to WARM_UP in all. Returns
 * those last deliveries, which the bot answers as repeats.
 */
async function warmUpForChanges(port: number, pool: pg.Pool, run: number): Promise<string[]> {
  const changes = changingDeliveries(`warm${run}`).slice(0, 2 * GROUPS);
  await runConcurrently(port, changes, SENDERS);
  await allIngested(pool);
  const last = changes.slice(-GROUPS);
  await runConcurrently(
    port,
    Array.from({ length: WARM_UP - changes.length }, (_, i) => last[i % GROUPS]!),
    SENDERS,
  );
  await allIngested(pool);
  return last;
}

/**
 * The edge floors (see the top of this file), started beside a bot, into its database, and warmed with as
 * many changing deliveries as it is (WARM_UP): the one held to, and with `withRedis` the one that also
 * pushes to Redis.
 */
async function edgeFloorsBeside(
  databaseUrl: string,
  run: number,
  { withRedis }: { withRedis: boolean },
): Promise<{ sides: Array<{ name: 'plain' | 'redis'; port: number }>; stop: () => Promise<void> }> {
  const started: Array<{ name: 'plain' | 'redis'; port: number; child: ChildProcess }> = [];
  const stopAll = async () => {
    for (const floor of started) await stop(floor.child);
  };
  try {
    const kinds = [['plain', {}]] as Array<['plain' | 'redis', Record<string, string>]>;
    if (withRedis) kinds.push(['redis', { FLOOR_LIST: `edge-floor-${randomBytes(4).toString('hex')}` }]);
    for (const [name, env] of kinds) {
      const edge = await startFloor('edge-floor.mjs', { DATABASE_URL: databaseUrl, REDIS_URL, ...env });
      started.push({ name, ...edge });
      // Groups of their own, as many deliveries as WARM_UP.
      const warmUp = Array.from({ length: Math.ceil(WARM_UP / (GROUPS * STEPS)) }, (_, k) =>
        changingDeliveries(`edge${name}${run}k${k}`),
      ).flat();
      await runConcurrently(edge.port, warmUp.slice(0, WARM_UP), SENDERS);
    }
  } catch (err) {
    await stopAll();
    throw err;
  }
  return { sides: started.map(({ name, port }) => ({ name, port })), stop: stopAll };
}

interface Windows {
  bot: Figures[];
  plain: Figures[];
  redis: Figures[];
  /** The bot's changing deliveries ingested per second, window by window: first sent to last ingested. */
  ingested: number[];
}

/**
 * The bot warmed for changes (warmUpForChanges), then the changing deliveries (fresh groups each time)
 * into it and into the edge floors started beside it (edgeFloorsBeside), WINDOWS times each by turns, the
 * order turning from window to window. Each window starts once the bot has ingested every delivery, Slack
 * shows what the database holds (`withSlack`: a bot with queue workers), and the bot and PostgreSQL are at
 * rest; then REWARM_WINDOW repeats warm its side again. Otherwise the bot's windows leave Slack work behind
 * them (about 10% of a core for the bot and for PostgreSQL, for 20 s after three windows, in a scratch run),
 * which the floors' windows, leaving none, would always be measured in: in a scratch run the floors beside
 * `serve` read 855–1,835/s, against 2,577–4,050/s beside `serve --no-worker`.
 */
async function changingWindows(
  bot: { port: number; child: ChildProcess },
  databaseUrl: string,
  pool: pg.Pool,
  run: number,
  edge: { withRedis: boolean; withSlack: boolean },
): Promise<Windows & { busy: number }> {
  const repeats = await warmUpForChanges(bot.port, pool, run);
  const floors = await edgeFloorsBeside(databaseUrl, run, edge);
  try {
    return await windowsBy(
      { port: bot.port, pid: bot.child.pid!, repeats },
      pool,
      floors.sides,
      run,
      edge.withSlack,
    );
  } finally {
    await floors.stop();
  }
}

async function windowsBy(
  bot: { port: number; pid: number; repeats: string[] },
  pool: pg.Pool,
  floors: Array<{ name: 'plain' | 'redis'; port: number }>,
  run: number,
  withSlack: boolean,
): Promise<Windows & { busy: number }> {
  const figures: Windows & { busy: number } = { bot: [], plain: [], redis: [], ingested: [], busy: 0 };
  const sides = [{ name: 'bot' as const, port: bot.port }, ...floors];
  const rewarm = Array.from({ length: REWARM_WINDOW }, (_, i) => bot.repeats[i % bot.repeats.length]!);
  for (let window = 0; window < WINDOWS; window++) {
    const turn = (run + window) % sides.length;
    for (const side of [...sides.slice(turn), ...sides.slice(0, turn)]) {
      if (!(await cameToRest(bot.pid, pool, withSlack))) figures.busy++;
      // After the wait, warmed again (see the settled repeats below): the floor stores them, the bot
      // answers them as repeats, leaving no Slack work behind.
      await runConcurrently(side.port, rewarm, SENDERS);
      const deliveries = changingDeliveries(`${run}${side.name}${window}`);
      const sent = performance.now();
      figures[side.name].push(await runConcurrently(side.port, deliveries, SENDERS));
      if (side.name !== 'bot') continue;
      await allIngested(pool);
      figures.ingested.push(deliveries.length / ((performance.now() - sent) / 1000));
    }
  }
  return figures;
}

/**
 * Whether the bot came to rest: every delivery ingested, Slack showing what the database holds (`withSlack`,
 * within SLACK_CATCH_UP_MS), and the bot and PostgreSQL at rest (untilQuiet).
 */
async function cameToRest(bot: number, pool: pg.Pool, withSlack: boolean): Promise<boolean> {
  const caughtUp = !withSlack || !Number.isNaN(await untilConsistent(pool, 0, SLACK_CATCH_UP_MS));
  return (await untilQuiet(bot)) && caughtUp;
}

/** Each of the bot's windows over the edge floor's of the same turn, every run's pooled: median (range). */
function byWindow(runs: Windows[]): string {
  const of = (figure: keyof Figures) =>
    runs.flatMap((w) => w.bot.map((window, i) => window[figure] / w.plain[i]![figure]));
  const told = (ratios: number[]) => `×${fmt(percentile(ratios, 0.5), 2)} (${range(ratios, 2)})`;
  return `throughput ${told(of('perSecond'))}, p99 ${told(of('p99'))}`;
}

/** Each figure's median over the windows of one run, by itself: the run's figures. */
function median(windows: Figures[]): Figures {
  return {
    perSecond: percentile(
      windows.map((w) => w.perSecond),
      0.5,
    ),
    p99: percentile(
      windows.map((w) => w.p99),
      0.5,
    ),
  };
}

/** Resolves once the bot has ingested every delivery it stored. */
async function allIngested(pool: pg.Pool): Promise<void> {
  for (;;) {
    const { rows } = await pool.query('SELECT 1 FROM alert_deliveries WHERE processed_at IS NULL LIMIT 1');
    if (rows.length === 0) return;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** A request into a Slack endpoint, and what its answer must say for the row to measure it. */
export interface Sent {
  form: Record<string, string>;
  /** An answer not matching it counts as failed: the request took another path than the row's. */
  answers?: RegExp;
}

/** What a slash command types, where, and what its answer must say for the row to measure it. */
interface Typed {
  command: string;
  text: string;
  /** C0BENCH01 by default, the channel of the incidents declared. */
  channel?: string;
  /** An answer not matching it counts as failed: the command took another path than the row's. */
  answers?: RegExp;
}

/** The `i`th of a row's slash commands as Slack sends it, and what its answer must say. */
export function commandForm(typed: (i: number) => Typed, i: number): Sent {
  const { channel = 'C0BENCH01', answers, ...command } = typed(i);
  return {
    form: {
      ...command,
      user_id: 'U0BENCH',
      channel_id: channel,
      team_id: 'T0SANDBOX',
      trigger_id: `floor-${i}-${randomBytes(4).toString('hex')}`,
      response_url: 'https://hooks.slack.invalid/commands/1',
    },
    ...(answers ? { answers } : {}),
  };
}

/**
 * What warms a process's Slack path, the same for the bot and the floors: `/incident help` (fixed text,
 * the least of a command's own code), and a click and a form no listener answers, by turns.
 */
export function pathWarmUp(): (i: number) => Sent {
  const payloads = unansweredPayloads();
  return (i) =>
    i % 3 === 0
      ? commandForm(() => ({ command: '/incident', text: 'help' }), i)
      : { form: payloads[(i % 3) - 1]! };
}

/** `count` signed requests, `concurrency` at a time: each one's time to its answer (the ack). */
export async function acks(
  port: number,
  count: number,
  concurrency: number,
  request: (i: number) => Sent,
): Promise<number[] & { failed?: number }> {
  const latencies: number[] & { failed?: number } = [];
  latencies.failed = 0;
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < count) {
        const { form, answers } = request(next++);
        const { status, ms, body } = await slackRequest(port, form);
        if (status !== 200)
          throw new Error(
            `${form.command ? `${form.command} ${form.text}` : 'a click or form'} answered ${status}`,
          );
        if (FAILED_ACK.test(body) || (answers && !answers.test(body))) latencies.failed!++;
        latencies.push(ms);
      }
    }),
  );
  return latencies;
}

/**
 * `count` acks of `request` (ACK_CONCURRENCY at a time) once REWARM more have warmed their side again after
 * the seconds it sat idle, and the CPU each group of `pids` (read once the re-warm is over) spent on them.
 */
export async function rewarmedAcks<K extends string>(
  port: number,
  count: number,
  request: (i: number) => Sent,
  pids: () => Promise<Record<K, number[]>>,
) {
  await acks(port, REWARM, ACK_CONCURRENCY, request);
  return cpuDuring(await pids(), () => acks(port, count, ACK_CONCURRENCY, request));
}

/** What every ack floor is started with (bolt-floor.mjs): the bot's signing secret and token, Slack's URL. */
export const floorSlackEnv = (slack: RunningEmulator) => ({
  SLACK_SIGNING_SECRET: SIGNING_SECRET,
  SLACK_BOT_TOKEN: BOT_TOKEN,
  SLACK_API_URL: slack.apiUrl,
});

/**
 * The two ack floors, started beside a bot and warmed as its Slack path is, then measured beside each of
 * its rows, with as many acks as the row's and the same requests (its commands, clicks or form
 * submissions). A p99 of 100 or 50 is the largest, one of 1,000 the tenth largest; run to run the floor's
 * p99 moved by half, so a ratio is to the floor measured seconds from it. Each floor's re-warm and
 * measurement, and each slash command's re-warm, starts once the bot and PostgreSQL are at rest (atRest):
 * measured in the tail of the bot's row before it, the floor's p99 was 81–224 ms after 2,000 declares,
 * 25–33 ms after /incident help. A command's measured acks follow its re-warm at once, in that re-warm's
 * after-work, as in a bot serving it without pause. `authTests`: the Slack calls the bare floor made during its measured
 * acks (none, as the bot); `busy`: measurements begun with the bot still busy, having waited as long as
 * untilQuiet does.
 */
async function ackFloors(
  slack: RunningEmulator,
  databaseUrl: string,
): Promise<Floors & { authTests: () => number; busy: () => number; stop: () => Promise<void> }> {
  const env = floorSlackEnv(slack);
  const plain = await startFloor('ack-floor.mjs', env);
  let writing: Awaited<ReturnType<typeof startFloor>> | undefined;
  const stopAll = async () => {
    await stop(plain.child);
    if (writing) await stop(writing.child);
  };
  let authTests = 0;
  let busy = 0;
  const warmUp = (port: number) =>
    acks(port, ACK_PATH_WARM_UP, ACK_CONCURRENCY, pathWarmUp()).then(() => undefined);
  const atRest = async (bot: number) => {
    if (!(await untilQuiet(bot))) busy++;
  };
  try {
    writing = await startFloor('ack-floor.mjs', { ...env, DATABASE_URL: databaseUrl });
    await warmUp(plain.port);
    await warmUp(writing.port);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const measured = async (
    floor: { port: number; child: ChildProcess },
    count: number,
    request: (i: number) => Sent,
  ) => {
    const { result, cpuMs } = await rewarmedAcks(floor.port, count, request, async () => ({
      floor: [floor.child.pid!],
      postgres: await processesNamed('postgres'),
    }));
    return {
      p99: percentile(result, 0.99),
      cpu: { floor: cpuMs.floor / count, postgres: cpuMs.postgres / count },
    };
  };
  return {
    warmUp,
    atRest,
    async beside(count, bot, forms): Promise<FloorsBeside> {
      await atRest(bot);
      // A row none of whose requests was acked (no form opened to submit) has nothing to compare.
      if (forms.length === 0) {
        const none = Number.NaN;
        return { plain: none, writing: none, cpu: { plain: none, writing: none, writingPostgres: none } };
      }
      const request = (i: number) => ({ form: forms[i % forms.length]! });
      const before = slack.emulator.callsOf('auth.test').length;
      const bare = await measured(plain, count, request);
      authTests += slack.emulator.callsOf('auth.test').length - before;
      const writes = await measured(writing!, count, request);
      return {
        plain: bare.p99,
        writing: writes.p99,
        cpu: { plain: bare.cpu.floor, writing: writes.cpu.floor, writingPostgres: writes.cpu.postgres },
      };
    },
    authTests: () => authTests,
    busy: () => busy,
    stop: stopAll,
  };
}

/** The slash commands whose acks are measured beside the floor's, as people type them. */
export const COMMANDS: Array<{ name: string; typed: (i: number) => Typed }> = [
  { name: '/incident list', typed: () => ({ command: '/incident', text: 'list' }) },
  { name: '/incident help', typed: () => ({ command: '/incident', text: 'help' }) },
  { name: '/incident stats 7d', typed: () => ({ command: '/incident', text: 'stats 7d' }) },
  { name: '/incident timeline INC-1', typed: () => ({ command: '/incident', text: 'timeline INC-1' }) },
  {
    name: '/incident declare',
    typed: (i) => ({ command: '/incident', text: `declare P3 Bench ${i}`, answers: /Declared INC-\d+/ }),
  },
  {
    name: '/incident update, 50 incidents',
    typed: (i) => ({
      command: '/incident',
      text: `update INC-${(i % 50) + 1} step ${i}`,
      answers: /Posted update #\d+ to INC-\d+/,
    }),
  },
  {
    // Every update takes the incident's row lock: the 50 queue behind one another.
    name: '/incident update INC-1 (one incident, its row lock)',
    typed: (i) => ({
      command: '/incident',
      text: `update INC-1 step ${i}`,
      answers: /Posted update #\d+ to INC-1\b/,
    }),
  },
  {
    // Round by round through P1, P2, P3, P4, P0, each round's severity other than the last's (the same
    // one is refused): the 50 come from critical alerts, P0, and every warm-up or measurement starts at P1.
    name: '/incident severity, 50 incidents',
    typed: (i) => ({
      command: '/incident',
      text: `severity INC-${(i % 50) + 1} P${(Math.floor(i / 50) + 1) % 5}`,
      answers: /INC-\d+ is now P\d/,
    }),
  },
  {
    // Each names a person other than the incident's commander at that moment (the same one is no change).
    name: '/incident assign, 50 incidents',
    typed: (i) => ({
      command: '/incident',
      text: `assign INC-${(i % 50) + 1} commander <@U0SRE${String(i).padStart(5, '0')}|sre${i}>`,
      answers: /is now commander of INC-\d+/,
    }),
  },
  {
    name: '/incident note, 50 incidents',
    typed: (i) => ({
      command: '/incident',
      text: `note INC-${(i % 50) + 1} Checked the dashboards ${i}`,
      answers: /Noted on the timeline of INC-\d+/,
    }),
  },
  { name: '/action list', typed: () => ({ command: '/action', text: 'list' }) },
  { name: '/action help', typed: () => ({ command: '/action', text: 'help' }) },
  // In a channel of no incident: in C0BENCH01, with the incidents declared above open, both would ask
  // which incident they are for, and do nothing else.
  {
    name: '/action scale (request)',
    typed: (i) => ({
      command: '/action',
      text: `scale payments-api replicas=${(i % 20) + 1}`,
      channel: 'C0BENCH02',
      answers: /Requested ACT-\d+/,
    }),
  },
  {
    name: '/health',
    typed: () => ({
      command: '/health',
      text: 'payments-api',
      channel: 'C0BENCH02',
      answers: /Running the health checks of payments-api/,
    }),
  },
];

interface Figures {
  perSecond: number;
  p99: number;
}

/** A slash command's acks in one run, and the floors' measured beside them. */
interface CommandFigures {
  p50: number;
  p99: number;
  failed: number;
  floor: FloorsBeside;
  /** CPU per measured ack, in ms (see cpuDuring): the bot's, PostgreSQL's, Redis's (all processes). */
  cpu: { bot: number; postgres: number; redis: number };
}

/** Run by run, each of `a` over the same run's `b`. */
export const ratios = (a: number[], b: number[]) => a.map((x, i) => x / b[i]!);

export const range = (values: number[], digits: number) => {
  const low = Math.min(...values);
  const high = Math.max(...values);
  return low === high ? fmt(low, digits) : `${fmt(low, digits)}–${fmt(high, digits)}`;
};

export async function floorsBench(): Promise<void> {
  const slack = await startSlackEmulator({ token: BOT_TOKEN });
  const bot = {
    webhook: [] as Figures[],
    /**
     * `serve --no-worker`: the webhook and the ingest (every serving process ingests), without the queue
     * workers (Slack updates above all; escalation steps, playbook and service checks). Beside `webhook`,
     * it tells what they, and the emulator answering their Slack calls in this process, cost the webhook,
     * with the minute or two at rest before each of `serve`'s windows (its own come seconds apart).
     */
    noWorker: [] as Figures[],
    /** Right after 800 more changes, unmeasured, while the bot still brings Slack up to date with them. */
    repeats: [] as Figures[],
    /** Once Slack shows what the database holds: the webhook's own cost, as the floor's has nothing behind it. */
    settledRepeats: [] as Figures[],
    /** Seconds from the last changing delivery ingested until Slack showed every incident as it is. */
    caughtUp: [] as number[],
    /** A window's changing deliveries ingested per second, first sent to last ingested (the median's). */
    ingested: [] as number[],
  };
  const commands = new Map<string, CommandFigures[]>();
  const floor = {
    /** The edge floor without its Redis push, the one the bot is held to (see below). */
    webhook: [] as Figures[],
    /** With it: what a receiver that queues in Redis as it answers would be held to. */
    redisWebhook: [] as Figures[],
    /** The edge floor without its Redis push, beside `serve --no-worker`. */
    besideNoWorker: [] as Figures[],
    /** auth.test calls in the ack floor's measured acks, run by run: none, as the bot's (ack-floor.mjs). */
    authTests: [] as number[],
    /**
     * Waits for rest that ended first (untilQuiet's 20 s, or Slack still behind after SLACK_CATCH_UP_MS):
     * before the webhook's windows, the changes after them, and the acks (cameToRest, ackFloors).
     */
    busy: 0,
  };
  /** Every run's windows, for the changing deliveries' window-by-window ratios (byWindow). */
  const pooled = { serve: [] as Windows[], noWorker: [] as Windows[] };
  const listeners: ListenerFigures[][] = [];
  try {
    for (let run = 0; run < RUNS; run++) {
      // A': the changing deliveries into `serve --no-worker`, warmed and measured as into `serve` below,
      // before it in every other run: what tells the two apart is the in-process queue workers.
      const noWorker = () =>
        withDatabase(async (url, pool) => {
          const started = await startBot(slack, url, `bench-${randomBytes(4).toString('hex')}`, 1000, {
            yaml: CATALOG,
            role: ['serve', '--no-worker'],
          });
          try {
            const windows = await changingWindows(started, url, pool, run, {
              withRedis: false,
              withSlack: false,
            });
            bot.noWorker.push(median(windows.bot));
            floor.besideNoWorker.push(median(windows.plain));
            pooled.noWorker.push(windows);
            floor.busy += windows.busy;
          } finally {
            await stop(started.child);
          }
        });
      if (run % 2 === 1) await noWorker();
      // A: the bot; B: the edge floors beside it, by turns, then the ack floors (each floor into the bot's
      // database). Each warmed before it is measured.
      await withDatabase(async (url, pool) => {
        const started = await startBot(slack, url, `bench-${randomBytes(4).toString('hex')}`, 1000, {
          yaml: CATALOG,
        });
        try {
          const windows = await changingWindows(started, url, pool, run, {
            withRedis: true,
            withSlack: true,
          });
          bot.webhook.push(median(windows.bot));
          floor.webhook.push(median(windows.plain));
          pooled.serve.push(windows);
          floor.redisWebhook.push(median(windows.redis));
          floor.busy += windows.busy;
          bot.ingested.push(percentile(windows.ingested, 0.5));
          // Changes once more, unmeasured, once the last window's are shown: their repeats, right after them,
          // and how long Slack takes to show them.
          if (!(await cameToRest(started.child.pid!, pool, true))) floor.busy++;
          const growing = changingDeliveries(`${run}after`);
          await runConcurrently(started.port, growing, SENDERS);
          await allIngested(pool);
          const ingestedAt = performance.now();
          // What each group last said, again: Alertmanager's repeat_interval, an HA peer's copy.
          const repeats = Array(STEPS).fill(growing.slice(-GROUPS)).flat();
          const [right, caughtUp] = await Promise.all([
            runConcurrently(started.port, repeats, SENDERS),
            untilConsistent(pool, ingestedAt, SLACK_CATCH_UP_MS),
          ]);
          bot.repeats.push(right);
          bot.caughtUp.push(caughtUp);
          // Minutes at rest leave the webhook slow (2.5× its cost per repeat in one scratch run, for the
          // bench's process too; not V8 dropping bytecode: --no-flush-bytecode left it about as slow), so it is
          // warmed again before it is measured.
          const warmUp = Array.from({ length: WARM_UP }, (_, i) => repeats[i % repeats.length]!);
          await runConcurrently(started.port, warmUp, SENDERS);
          const settled = Array.from({ length: SETTLED_REPEATS }, (_, i) => repeats[i % repeats.length]!);
          bot.settledRepeats.push(await runConcurrently(started.port, settled, SENDERS));
          // The slash commands, each beside the floors: A B, then B A in the next run.
          const floors = await ackFloors(slack, url);
          try {
            await floors.warmUp(started.port);
            for (const { name, typed } of COMMANDS) {
              const request = (i: number) => commandForm(typed, i);
              // Each command's own code warms before it is measured.
              await acks(started.port, ACK_WARM_UP, ACK_CONCURRENCY, request);
              const measureBot = async () => {
                await floors.atRest(started.child.pid!);
                return rewarmedAcks(started.port, ACKS, request, async () => ({
                  bot: [started.child.pid!],
                  postgres: await processesNamed('postgres'),
                  redis: await processesNamed('redis-server'),
                }));
              };
              // The floors are sent the same commands.
              const forms = Array.from({ length: ACKS }, (_, i) => request(i).form);
              let measuredBot: Awaited<ReturnType<typeof measureBot>>;
              let beside: FloorsBeside;
              if (run % 2 === 0) {
                measuredBot = await measureBot();
                beside = await floors.beside(ACKS, started.child.pid!, forms);
              } else {
                beside = await floors.beside(ACKS, started.child.pid!, forms);
                measuredBot = await measureBot();
              }
              const { result: latencies, cpuMs } = measuredBot;
              const figures = {
                p50: percentile(latencies, 0.5),
                p99: percentile(latencies, 0.99),
                failed: latencies.failed ?? 0,
                floor: beside,
                cpu: { bot: cpuMs.bot / ACKS, postgres: cpuMs.postgres / ACKS, redis: cpuMs.redis / ACKS },
              };
              commands.set(name, [...(commands.get(name) ?? []), figures]);
            }
            floor.authTests.push(floors.authTests());
            floor.busy += floors.busy();
          } finally {
            await floors.stop();
          }
        } finally {
          await stop(started.child);
        }
      });
      if (run % 2 === 0) await noWorker();
      // A again: the buttons and forms, on a bot of their own (state to click on, no backlog of the above).
      listeners.push(
        await withDatabase(async (url, pool) => {
          const floors = await ackFloors(slack, url);
          try {
            return await clickMatrix(slack, url, pool, `bench-${randomBytes(4).toString('hex')}`, floors);
          } finally {
            floor.busy += floors.busy();
            await floors.stop();
          }
        }),
      );
    }
  } finally {
    await slack.close();
  }
  console.log(
    `\n## Beside the floor: ${RUNS} runs, by turns (webhook: ${GROUPS} groups growing over ${STEPS} steps, ${SENDERS} senders, in ${WINDOWS} windows a side by turns with the edge floors beside the bot, each run's throughput and p99 each its median over the windows; acks: ${ACKS} signed /incident list, ${ACK_CONCURRENCY} concurrent, beside the ack floor's ${ACKS})`,
  );
  console.log('| path | the bot | the floor | ratio (run by run) |');
  console.log('| --- | --- | --- | --- |');
  const tp = (f: Figures[]) => f.map((x) => x.perSecond);
  const p99 = (f: Figures[]) => f.map((x) => x.p99);
  console.log(
    `| webhook, changing deliveries | ${range(tp(bot.webhook), 0)}/s, p99 ${range(p99(bot.webhook), 0)} ms | ${range(tp(floor.webhook), 0)}/s, p99 ${range(p99(floor.webhook), 0)} ms | throughput ×${range(ratios(tp(bot.webhook), tp(floor.webhook)), 2)}, p99 ×${range(ratios(p99(bot.webhook), p99(floor.webhook)), 2)} |`,
  );
  console.log(
    `| webhook, changing deliveries, \`serve --no-worker\` (ingest, no queue workers), beside an edge floor of its own | ${range(tp(bot.noWorker), 0)}/s, p99 ${range(p99(bot.noWorker), 0)} ms | ${range(tp(floor.besideNoWorker), 0)}/s, p99 ${range(p99(floor.besideNoWorker), 0)} ms | throughput ×${range(ratios(tp(bot.noWorker), tp(floor.besideNoWorker)), 2)}, p99 ×${range(ratios(p99(bot.noWorker), p99(floor.besideNoWorker)), 2)} |`,
  );
  console.log(
    `| webhook, repeats (no write), once Slack is up to date | ${range(tp(bot.settledRepeats), 0)}/s, p99 ${range(p99(bot.settledRepeats), 0)} ms | ${range(tp(floor.webhook), 0)}/s (it writes every one) | throughput ×${range(ratios(tp(bot.settledRepeats), tp(floor.webhook)), 2)} |`,
  );
  console.log(
    `| webhook, repeats, right after the changes (Slack still being updated) | ${range(tp(bot.repeats), 0)}/s, p99 ${range(p99(bot.repeats), 0)} ms | ${range(tp(floor.webhook), 0)}/s | throughput ×${range(ratios(tp(bot.repeats), tp(floor.webhook)), 2)} |`,
  );
  console.log(
    `| edge floor with its Redis push (for reference) | | ${range(tp(floor.redisWebhook), 0)}/s, p99 ${range(p99(floor.redisWebhook), 0)} ms | the bot's changing deliveries beside it: throughput ×${range(ratios(tp(bot.webhook), tp(floor.redisWebhook)), 2)}, p99 ×${range(ratios(p99(bot.webhook), p99(floor.redisWebhook)), 2)} |`,
  );
  const list = commands.get('/incident list') ?? [];
  const listP99 = list.map((r) => r.p99);
  const listFloor = list.map((r) => r.floor.plain);
  console.log(
    `| \`/incident list\` ack | p99 ${range(listP99, 0)} ms | p99 ${range(listFloor, 0)} ms | p99 ×${range(ratios(listP99, listFloor), 2)} |`,
  );
  console.log(
    'Goals (issue 18): webhook throughput ≥ ×0.7 and p99 ≤ ×1.5 of the floor, repeats (once Slack is up to date) ≥ ×1.5; acks p99 ≤ ×1.5.',
  );
  console.log(
    `\`serve --no-worker\` stores and ingests as \`serve\` does, but runs no queue worker: \`serve\` beside it, run by run, throughput ×${range(ratios(tp(bot.webhook), tp(bot.noWorker)), 2)}, p99 ×${range(ratios(p99(bot.webhook), p99(bot.noWorker)), 2)}. That is what the in-process queue workers, and the emulator answering their Slack calls in the bench's own process, cost the webhook on the same machine, with one more difference: \`serve\`'s windows each start once Slack shows every change before them, a minute or two at rest, \`serve --no-worker\`'s seconds apart (in a scratch run, a minute's rest before each window cost \`serve --no-worker\` about 7% of its throughput and left its p99 as it was).`,
  );
  console.log(
    `Window by window, each of the bot's windows beside the edge floor's of the same turn, the ${RUNS} runs' ${RUNS * WINDOWS} pooled, median (range): \`serve\` ${byWindow(pooled.serve)}; \`serve --no-worker\` ${byWindow(pooled.noWorker)}. A run's figures above are each the median of its ${WINDOWS} windows, and a window's p99 is often one stall (a collection, a slow round trip, the scheduler), so run by run they scatter more than these.`,
  );
  console.log(
    `The bot answers once a delivery is stored and ingests it after (the floor only stores): a window's changing deliveries were all ingested at ${range(bot.ingested, 0)}/s (the median window's), from the first sent to the last ingested; after the windows, ${GROUPS * STEPS} more, unmeasured, were shown in Slack ${range(bot.caughtUp, 1)} s after the last of them was ingested.`,
  );
  console.log(
    `Slack calls (auth.test) on the ack floor's measured acks beside the slash commands, run by run: ${floor.authTests.join(', ')}`,
  );
  console.log(
    `Waits for rest that ended before the bot came to rest (after 20 s, or with Slack still behind after ${SLACK_CATCH_UP_MS / 60_000} minutes), before the webhook's windows, the changes after them, and the acks, the bot's and the floors': ${floor.busy}, over the whole bench.`,
  );
  printListeners(commands, listeners);
  printCpu(commands);
}

/**
 * What each slash command's measured acks cost the processes that serve them, beside the floors' cost
 * for the same requests: at 50 concurrent the two cores are busy throughout, so an ack's p99 follows the
 * CPU every process spends on a request (the bench's own client's included: the same for both sides, but
 * for the Slack calls a command's after-work makes to the emulator, which runs in the bench's process).
 */
function printCpu(commands: Map<string, CommandFigures[]>): void {
  console.log(
    `\n## CPU per ack, ms: each slash command's ${ACKS} measured acks, and the floors' beside them (run by run, from /proc)`,
  );
  console.log(
    '| command | the bot | PostgreSQL | Redis | all three | ack floor | floor that writes (its process / PostgreSQL) | all three vs the ack floor | vs the floor that writes |',
  );
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | --- | --- | --- |');
  for (const [name, runs] of commands) {
    const cpu = (pick: (r: CommandFigures) => number) => range(runs.map(pick), 2);
    const all = runs.map((r) => r.cpu.bot + r.cpu.postgres + r.cpu.redis);
    const plain = runs.map((r) => r.floor.cpu.plain);
    const writing = runs.map((r) => r.floor.cpu.writing + r.floor.cpu.writingPostgres);
    console.log(
      `| \`${name}\` | ${cpu((r) => r.cpu.bot)} | ${cpu((r) => r.cpu.postgres)} | ${cpu((r) => r.cpu.redis)} | ${range(all, 2)} | ${range(plain, 2)} | ${cpu((r) => r.floor.cpu.writing)} / ${cpu((r) => r.floor.cpu.writingPostgres)} | ×${range(ratios(all, plain), 1)} | ×${range(ratios(all, writing), 1)} |`,
    );
  }
}

/**
 * One table for every listener: the slash commands above, then the buttons and forms (bench/clicks.ts),
 * each beside the floors measured next to it. A button acks before its work, so its click → result (until
 * Slack is sent what shows the result) is what the person waits for.
 */
function printListeners(commands: Map<string, CommandFigures[]>, listeners: ListenerFigures[][]): void {
  const ratio = (p99s: number[], floors: number[]) => `×${range(ratios(p99s, floors), 2)}`;
  const columns = (runs: Array<{ p50: number; p99: number; floor: FloorsBeside }>) => {
    const p99s = runs.map((r) => r.p99);
    const plain = runs.map((r) => r.floor.plain);
    const writing = runs.map((r) => r.floor.writing);
    return `${range(
      runs.map((r) => r.p50),
      0,
    )} | ${range(p99s, 0)} | ${range(plain, 0)} / ${range(writing, 0)} | ${ratio(p99s, plain)} | ${ratio(p99s, writing)}`;
  };
  console.log(
    `\n## Every listener, ${ACK_CONCURRENCY} concurrent, each beside the ack floor and the floor that writes, sent the same requests, as many, right after it (before it, for the first rows' slash commands in every other run). Every process's Slack path is first warmed with ${ACK_PATH_WARM_UP} acks (/incident help, and a click and a form no listener answers). Once the bot and PostgreSQL are at rest, each floor serves ${REWARM} acks of the row's requests before it is measured, and so does the bot for the first rows' slash commands, whose measured acks then follow at once (in the after-work of those ${REWARM}). Those slash commands are measured on ${ACKS} acks, after ${ACK_WARM_UP} of their own; \`/action cancel\`, the buttons, the forms and the \`/incident\` commands typed to do what they do run on a bot of their own, their own code measured from cold (what they act on is used up by them), as a button clicked a few times a day runs, silencing in an Alertmanager that holds ${OTHER_SILENCES} other teams' silences, half of them expired. A button's, form's or typed command's acks there are those of half its requests, each client clicking again once acknowledged, as the floor's do; its click → result those of the other half, each of ${ACK_CONCURRENCY} people clicking again once their result is shown (waiting at most ${RESULT_WAIT_MS / 1000} s); clicks no more than the clients (the votes) are one wave, timed for both`,
  );
  console.log(
    '| listener | acks | p50 ms | p99 ms | floors p99 ms (ack / writing) | p99 vs the ack floor (run by run) | p99 vs the floor that writes | click → result p50 / p99 ms (shown of sent) |',
  );
  console.log('| --- | ---: | ---: | ---: | --- | --- | --- | --- |');
  for (const [name, runs] of commands) {
    const failed = runs.reduce((n, r) => n + r.failed, 0);
    console.log(`| \`${name}\`${failed ? ` (${failed} acks failed)` : ''} | ${ACKS} | ${columns(runs)} | |`);
  }
  const told: string[] = [];
  for (const [row, first] of (listeners[0] ?? []).entries()) {
    const runs = listeners.map((l) => l[row]!);
    const failed = runs.reduce((n, r) => n + r.failed, 0);
    const results = runs.flatMap((r) => (r.result ? [r.result] : []));
    const result =
      results.length === 0
        ? ''
        : `${range(
            results.map((r) => r.p50),
            0,
          )} / ${range(
            results.map((r) => r.p99),
            0,
          )} (${results.map((r) => `${r.shown}/${r.of}`).join(', ')})`;
    for (const [run, r] of results.entries())
      if (r.told.length > 0) told.push(`- ${first.name}, run ${run + 1}: ${r.told.slice(0, 2).join('; ')}`);
    console.log(
      `| ${first.name}${failed ? ` (${failed} acks failed)` : ''} | ${range(
        runs.map((r) => r.acks),
        0,
      )} | ${columns(runs.map((r) => ({ p50: r.ackP50, p99: r.ackP99, floor: r.floor })))} | ${result} |`,
    );
  }
  for (const { name, note } of listeners[0] ?? []) if (note) console.log(`\n${name}: ${note}.`);
  console.log(
    '\nA failed ack answers with an error (e.g. "The database (PostgreSQL) is not answering right now"), or a command\'s answer other than the one its row measures (e.g. which incident it is for). Not shown: counted at the wait. What clickers were told instead of the result:',
  );
  for (const line of told) console.log(line);
}
