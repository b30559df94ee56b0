/** What every bench part runs against: the real bot as child processes, PostgreSQL, Redis, and the Slack emulator. */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readdir, readFile, writeFile } from 'node:fs/promises';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { incidentsBehindSlack } from '../src/incidents/incidentStore.js';
import type { RunningEmulator } from '../src/sandbox/slackEmulator.js';
import { slackSignatureHeaders } from '../src/sandbox/slackSigning.js';

export const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';
export const TOKEN = `bench-${randomBytes(12).toString('hex')}`;
export const BOT_TOKEN = 'xoxb-bench-token';
export const TEAMS = 10;
export const SIGNING_SECRET = 'bench-signing-secret';

/** A service the commands can name: its check knocks on a closed local port; its action is never approved. */
export const CATALOG = [
  'services:',
  '  payments-api:',
  '    checks: [{ name: up, kind: tcp, host: 127.0.0.1, port: 9 }]',
  '    actions:',
  '      - name: scale',
  '        description: Scale payments-api',
  '        kind: scale',
  "        driver: { type: command, argv: [/bin/true, '{{replicas}}'] }",
  '        params: { replicas: { type: integer, min: 1, max: 20 } }',
  '        approval: { approvers: [U0APPROVER], required: 1 }',
];

export const agent = new Agent({ keepAlive: true, maxSockets: 64 });

export function post(
  port: number,
  body: string,
  via: Agent = agent,
  started = process.hrtime.bigint(),
): Promise<{ status: number; ms: number }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path: '/alertmanager',
        method: 'POST',
        agent: via,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          authorization: `Bearer ${TOKEN}`,
        },
      },
      (res) => {
        res.resume();
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, ms: Number(process.hrtime.bigint() - started) / 1e6 }),
        );
      },
    );
    req.on('error', (err: NodeJS.ErrnoException) => {
      // A kept-alive socket the server closed (its keepAliveTimeout) as this request went out on it: sent
      // again, once, on a socket of its own (an agent that keeps none), timed from the first try. A
      // 29-minute floors run once ended on one.
      if (req.reusedSocket && err.code === 'ECONNRESET')
        post(port, body, new Agent(), started).then(resolve, reject);
      else reject(err);
    });
    req.end(body);
  });
}

export async function runConcurrently(port: number, bodies: string[], concurrency: number) {
  const latencies: number[] = [];
  const statuses = new Map<number, number>();
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < bodies.length) {
        const body = bodies[next++]!;
        const { status, ms } = await post(port, body);
        latencies.push(ms);
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!;
  return {
    count: bodies.length,
    perSecond: bodies.length / seconds,
    p50: pct(0.5),
    p99: pct(0.99),
    statuses,
  };
}

const ROOT = new URL('..', import.meta.url).pathname;
const tsc = new URL('../node_modules/typescript/bin/tsc', import.meta.url).pathname;

/** Builds dist/ from the sources as they are, for startBot: once, before any bench part runs. */
export function buildDist(): void {
  execFileSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, stdio: 'inherit' });
}

/** The bot, `node dist/main.js serve` (or `role`) as `npm start` runs it, built by buildDist. */
export async function startBot(
  slack: RunningEmulator,
  databaseUrl: string,
  prefix: string,
  syncIntervalMs: number,
  extra: { yaml?: string[]; env?: Record<string, string>; role?: string[] } = {},
): Promise<{ port: number; child: ChildProcess }> {
  const dir = await mkdtemp(join(tmpdir(), 'incident-bot-bench-'));
  const routes = Array.from(
    { length: TEAMS },
    (_, t) => `  - { matchers: ['team=team-${t}'], channel: C0TEAM${String(t).padStart(4, '0')} }`,
  );
  await writeFile(
    join(dir, 'config.yml'),
    [
      'slack:',
      '  defaultChannel: C0DEFAULT1',
      `  syncIntervalMs: ${syncIntervalMs}`,
      'routes:',
      ...routes,
      ...(extra.yaml ?? []),
      '',
    ].join('\n'),
  );
  // dist/main.js, as `npm start` runs it (buildDist): under tsx the same code ran slower (repeats at about
  // two thirds of the built bot's throughput in a scratch run), which no deployment pays.
  const child = spawn(
    process.execPath,
    [
      // BENCH_CPU_PROF=dir: each bot writes a CPU profile there when it stops (NODE_OPTIONS refuses --cpu-prof).
      ...(process.env.BENCH_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : []),
      new URL('../dist/main.js', import.meta.url).pathname,
      ...(extra.role ?? ['serve']),
    ],
    {
      env: {
        ...process.env,
        SLACK_BOT_TOKEN: BOT_TOKEN,
        SLACK_SIGNING_SECRET: SIGNING_SECRET,
        SLACK_API_URL: slack.apiUrl,
        DATABASE_URL: databaseUrl,
        REDIS_URL,
        PORT: '0',
        ALERTMANAGER_TOKEN: TOKEN,
        INCIDENT_BOT_CONFIG: join(dir, 'config.yml'),
        QUEUE_PREFIX: prefix,
        LOG_LEVEL: 'info',
        ...extra.env,
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const port = await new Promise<number>((resolve, reject) => {
    let buffer = '';
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const started = /"port":(\d+)[^\n]*incident-bot started/.exec(buffer);
      if (!started) return;
      // Kept, the bot's log (a line per request) would grow here and be searched again at every chunk.
      child.stdout!.off('data', onData);
      resolve(Number(started[1]));
    };
    child.stdout!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`bot exited with ${code}`)));
  });
  return { port, child };
}

/** The CPU time process `pid` has used, in ms, from /proc (Linux, in clock ticks of 10 ms): throws if unread. */
async function cpuMsOf(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // After the command name, in parentheses: state is the 3rd field, utime and stime the 14th and 15th.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/**
 * Whether process `pid` and PostgreSQL came to rest (under 5% of a core between them for half a second)
 * within 20 s: a measurement then starts after the work that followed the last one's (a Slack sync's first
 * try for each of 2,000 declares took half a core for about 5 s in a scratch run; the ingest of 800
 * changing deliveries leaves PostgreSQL work after it), not in its tail. Work that waits on Slack's limits
 * uses little CPU, and may still be waiting. Where the process's CPU time cannot be read (see cpuMsOf), it
 * is taken as at rest at once.
 */
export async function untilQuiet(pid: number): Promise<boolean> {
  const WINDOW_MS = 500;
  const until = Date.now() + 20_000;
  try {
    while (Date.now() < until) {
      const others = await processesNamed('postgres');
      const before = await cpuMsOf(pid);
      const { cpuMs } = await cpuDuring({ others }, () => new Promise((r) => setTimeout(r, WINDOW_MS)));
      const used = (await cpuMsOf(pid)) - before + (Number.isNaN(cpuMs.others) ? 0 : cpuMs.others);
      if (used < 0.05 * WINDOW_MS) return true;
    }
    return false;
  } catch {
    // Not Linux, or the process is gone: nothing to wait for.
    return true;
  }
}

/** The processes whose command name is `name` (PostgreSQL's server and every one of its backends, say). */
export async function processesNamed(name: string): Promise<number[]> {
  const pids = (await readdir('/proc').catch(() => [])).filter((entry) => /^\d+$/.test(entry));
  const named = await Promise.all(
    pids.map(async (pid) =>
      (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim() === name ? [Number(pid)] : [],
    ),
  );
  return named.flat();
}

/**
 * The CPU time each group of `pids` used while `work` ran, in ms. A process not there at the start or at
 * the end (a PostgreSQL backend) counts nothing; a group with no process read at both (none found: not
 * Linux, a server on another host or named otherwise) is NaN.
 */
export async function cpuDuring<T, K extends string>(
  pids: Record<K, number[]>,
  work: () => Promise<T>,
): Promise<{ result: T; cpuMs: Record<K, number> }> {
  const groups = Object.entries(pids) as Array<[K, number[]]>;
  const read = () =>
    Promise.all(
      groups.map(([, group]) => Promise.all(group.map((pid) => cpuMsOf(pid).catch(() => Number.NaN)))),
    );
  const before = await read();
  const result = await work();
  const after = await read();
  const cpuMs = {} as Record<K, number>;
  for (const [i, [key, group]] of groups.entries()) {
    const used = group.map((_, j) => after[i]![j]! - before[i]![j]!).filter((ms) => !Number.isNaN(ms));
    cpuMs[key] = used.length === 0 ? Number.NaN : used.reduce((a, b) => a + b, 0);
  }
  return { result, cpuMs };
}

/** Stops a child the bench started, once it has exited. */
export async function stop(child: ChildProcess): Promise<void> {
  // Exited, or killed by a signal (exitCode then stays null): its exit event has gone by.
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  await new Promise((resolve) => child.once('exit', resolve));
}

export async function withDatabase<T>(work: (url: string, pool: pg.Pool) => Promise<T>): Promise<T> {
  const name = `ib_bench_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: DATABASE_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(DATABASE_URL);
  url.pathname = `/${name}`;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  // DROP … WITH (FORCE) may end a session still closing after pool.end(): nothing to handle then.
  pool.on('error', () => {});
  try {
    return await work(url.toString(), pool);
  } finally {
    await pool.end();
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    await admin.end();
  }
}

/**
 * Seconds from `since` until Slack shows every incident as the database has it, once every delivery
 * stored has been ingested (until then, what a delivery changes is not yet behind); NaN past `withinMs`.
 */
export async function untilConsistent(pool: pg.Pool, since: number, withinMs = Infinity): Promise<number> {
  const until = performance.now() + withinMs;
  for (;;) {
    const { rows: waiting } = await pool.query(
      'SELECT 1 FROM alert_deliveries WHERE processed_at IS NULL LIMIT 1',
    );
    if (waiting.length === 0 && (await incidentsBehindSlack(pool, 1)).length === 0)
      return (performance.now() - since) / 1000;
    if (performance.now() > until) return Number.NaN;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export function fmt(n: number, digits = 1) {
  return n.toFixed(digits);
}

/** A request into the bot as Slack sends it, signed with the v0 scheme; resolves to the answer's latency. */
export async function slackRequest(
  port: number,
  form: Record<string, string>,
): Promise<{ status: number; ms: number; body: string }> {
  const body = new URLSearchParams(form).toString();
  const started = process.hrtime.bigint();
  const res = await fetch(`http://127.0.0.1:${port}/slack/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...slackSignatureHeaders(SIGNING_SECRET, body),
    },
    body,
  });
  const text = await res.text();
  return { status: res.status, ms: Number(process.hrtime.bigint() - started) / 1e6, body: text };
}

export const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
};
