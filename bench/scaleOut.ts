/**
 * The connections a scaled-out deployment holds (issue 18, "scale-out stays honest"): two
 * `serve --no-worker` and two `worker` processes on one PostgreSQL and one Redis. Each connection is read
 * where the server lists it (pg_stat_activity, Redis's CLIENT LIST) and told to its process by its local
 * port (`ss -tnp`). Figures at start, the most seen while a storm of changing deliveries goes to both
 * serve processes (as two HA Alertmanager peers send it) with slash commands beside it and the workers
 * syncing it to Slack, and again past the pools' 30 s idle timeout.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type pg from 'pg';
import { incidentsBehindSlack } from '../src/incidents/incidentStore.js';
import { startSlackEmulator } from '../src/sandbox/slackEmulator.js';
import { payload } from '../test/support/alertmanager.js';
import { BOT_TOKEN, REDIS_URL, runConcurrently, slackRequest, startBot, withDatabase } from './deployment.js';

const GROUPS = 50;
const STEPS = 6;
const SENDERS_PER_SERVE = 8;
const COMMANDS_PER_STEP = 25;
/** How long the workers go on syncing after the storm, sampled too. */
const AFTER_STORM_MS = 15_000;
/** Past the pools' idleTimeoutMillis (src/db/pool.ts). */
const LATER_MS = 35_000;

interface Counts {
  postgres: number;
  redis: number;
}

/** The local ports of each pid's established TCP connections. */
function localPortsByPid(): Map<number, Set<number>> {
  const byPid = new Map<number, Set<number>>();
  const out = execFileSync('ss', ['-tnpH', 'state', 'established'], { encoding: 'utf8' });
  for (const line of out.split('\n')) {
    const m = /\S+:(\d+)\s+\S+:\d+\s+users:\(\("[^"]*",pid=(\d+),/.exec(line);
    if (!m) continue;
    const pid = Number(m[2]);
    if (!byPid.has(pid)) byPid.set(pid, new Set());
    byPid.get(pid)!.add(Number(m[1]));
  }
  return byPid;
}

/** Each process's connections as PostgreSQL and Redis list them. */
async function countConnections(pool: pg.Pool, redis: Redis, pids: number[]): Promise<Counts[]> {
  const ports = localPortsByPid();
  const { rows } = await pool.query<{ port: number }>(
    "SELECT client_port AS port FROM pg_stat_activity WHERE datname = current_database() AND application_name = 'incident-bot'",
  );
  const clients = String(await redis.call('CLIENT', 'LIST'))
    .split('\n')
    .map((line) => Number(/ addr=[^ ]*:(\d+) /.exec(` ${line}`)?.[1]));
  return pids.map((pid) => {
    const own = ports.get(pid) ?? new Set<number>();
    return {
      postgres: rows.filter((r) => own.has(r.port)).length,
      redis: clients.filter((port) => own.has(port)).length,
    };
  });
}

export async function scaleOutBench(): Promise<void> {
  const slack = await startSlackEmulator({ token: BOT_TOKEN });
  const redis = new Redis(REDIS_URL);
  await withDatabase(async (url, pool) => {
    const prefix = `bench-${randomBytes(4).toString('hex')}`;
    const roles = [['serve', '--no-worker'], ['serve', '--no-worker'], ['worker'], ['worker']];
    // One at a time: the first migrates, and a worker's start-up reconcile finds the schema there.
    const bots: Array<Awaited<ReturnType<typeof startBot>>> = [];
    for (const role of roles) bots.push(await startBot(slack, url, prefix, 0, { role }));
    const pids = bots.map((b) => b.child.pid!);
    try {
      await new Promise((r) => setTimeout(r, 2000));
      const atStart = await countConnections(pool, redis, pids);
      const peak = atStart.map(() => ({ postgres: 0, redis: 0 }));
      let peakTotal = { postgres: 0, redis: 0 };
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const now = await countConnections(pool, redis, pids);
          for (const [i, c] of now.entries()) {
            peak[i] = {
              postgres: Math.max(peak[i]!.postgres, c.postgres),
              redis: Math.max(peak[i]!.redis, c.redis),
            };
          }
          peakTotal = {
            postgres: Math.max(
              peakTotal.postgres,
              now.reduce((n, c) => n + c.postgres, 0),
            ),
            redis: Math.max(
              peakTotal.redis,
              now.reduce((n, c) => n + c.redis, 0),
            ),
          };
          await new Promise((r) => setTimeout(r, 100));
        }
      })();

      const serves = bots.slice(0, 2);
      let deliveries = 0;
      let commands = 0;
      try {
        for (let step = 1; step <= STEPS; step++) {
          const bodies = Array.from({ length: GROUPS }, (_, g) =>
            JSON.stringify(
              payload({
                group: `ScaleOut${g}`,
                alerts: Array.from({ length: step }, (_, i) => ({ instance: `host-${i}` })),
              }),
            ),
          );
          // Every notification to both serve processes, and /incident list to each beside it.
          await Promise.all([
            ...serves.map((s) => runConcurrently(s.port, bodies, SENDERS_PER_SERVE)),
            ...serves.flatMap((s) =>
              Array.from({ length: COMMANDS_PER_STEP }, () =>
                slackRequest(s.port, {
                  command: '/incident',
                  text: 'list',
                  user_id: 'U0ALICE',
                  channel_id: 'C0WARROOM',
                  team_id: 'T0BENCH',
                  trigger_id: randomBytes(6).toString('hex'),
                  response_url: 'https://hooks.slack.invalid/commands/1',
                }),
              ),
            ),
          ]);
          deliveries += 2 * bodies.length;
          commands += 2 * COMMANDS_PER_STEP;
        }
        await new Promise((r) => setTimeout(r, AFTER_STORM_MS));
      } finally {
        sampling = false;
        await sampler;
      }
      await new Promise((r) => setTimeout(r, LATER_MS));
      const later = await countConnections(pool, redis, pids);
      // Under Slack's published limits the workers may still be catching up then, and hold clients.
      const behind = (await incidentsBehindSlack(pool, GROUPS)).length;

      console.log(
        `\n## Scale-out: 2 \`serve --no-worker\` + 2 \`worker\`, connections per process (pg_stat_activity, CLIENT LIST)`,
      );
      console.log(
        `Storm: ${GROUPS} groups growing over ${STEPS} steps, each notification to both serve processes (${deliveries} deliveries, ${SENDERS_PER_SERVE} senders each) with ${commands} \`/incident list\`; peak sampled every 100 ms until ${AFTER_STORM_MS / 1000} s after it; read again ${LATER_MS / 1000} s later (past the pools' idle timeout), when ${behind} of ${GROUPS} incidents ${behind === 1 ? 'was' : 'were'} still behind in Slack (Slack's published limits).`,
      );
      console.log(
        '| process | PostgreSQL at start | PostgreSQL peak | PostgreSQL later | Redis at start | Redis peak | Redis later |',
      );
      console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
      for (const [i, role] of roles.entries()) {
        console.log(
          `| ${role.join(' ')} #${(i % 2) + 1} | ${atStart[i]!.postgres} | ${peak[i]!.postgres} | ${later[i]!.postgres} | ${atStart[i]!.redis} | ${peak[i]!.redis} | ${later[i]!.redis} |`,
        );
      }
      const sum = (counts: Counts[], key: keyof Counts) => counts.reduce((n, c) => n + c[key], 0);
      console.log(
        `| all four | ${sum(atStart, 'postgres')} | ${peakTotal.postgres} | ${sum(later, 'postgres')} | ${sum(atStart, 'redis')} | ${peakTotal.redis} | ${sum(later, 'redis')} |`,
      );

      // For comparison: one `serve` with its worker in-process, as it holds them once started.
      const combined = await startBot(slack, url, prefix, 0);
      bots.push(combined);
      await new Promise((r) => setTimeout(r, 2000));
      const [own] = await countConnections(pool, redis, [combined.child.pid!]);
      console.log(
        `A \`serve\` with its worker in-process, 2 s after its start: PostgreSQL ${own!.postgres}, Redis ${own!.redis}.`,
      );
    } finally {
      for (const { child } of bots) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    }
  });
  await redis.quit();
  await slack.close();
}
