/**
 * The bot's memory: resident (from /proc) and its heap after a full GC (asked for with SIGUSR2, read from
 * the line it logs); the idle bench and the soak.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { MemoryAfterGc } from '../src/observability/memory.js';
import { startSlackEmulator } from '../src/sandbox/slackEmulator.js';
import { payload } from '../test/support/alertmanager.js';
import { BOT_TOKEN, fmt, percentile, post, startBot, TEAMS, withDatabase } from './deployment.js';

/** The bot process's resident memory now and at its peak, in MiB, from /proc (Linux). */
export async function memoryOf(pid: number): Promise<{ rss: number; peak: number }> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1024, peak: kib('VmHWM') / 1024 };
}

/** The bot's heap after a full GC: SIGUSR2 makes it collect and log the figures. */
export function heapAfterGc(child: ChildProcess): Promise<MemoryAfterGc> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      child.stdout!.off('data', onData);
      reject(new Error('the bot did not log its memory within 30 s of SIGUSR2'));
    }, 30_000);
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString();
      const line = buffer.split('\n').find((l) => l.includes('"msg":"memory after a full GC"'));
      if (!line) return;
      clearTimeout(timer);
      child.stdout!.off('data', onData);
      resolve(JSON.parse(line).memory);
    };
    child.stdout!.on('data', onData);
    child.kill('SIGUSR2');
  });
}

/** `node dist/main.js serve` (as `npm start` runs it, built first) idle: its RSS, read three times. */
export async function idleBench() {
  const slack = await startSlackEmulator({ token: BOT_TOKEN });
  await withDatabase(async (url) => {
    const prefix = `bench-${randomBytes(4).toString('hex')}`;
    const { child } = await startBot(slack, url, prefix, 1000);
    try {
      const readings: number[] = [];
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 5000));
        readings.push((await memoryOf(child.pid!)).rss);
      }
      const heap = await heapAfterGc(child);
      console.log('\n## Idle: `node dist/main.js serve`, its worker in-process, no traffic');
      console.log(`RSS after 5, 10 and 15 s: ${readings.map((r) => fmt(r)).join(', ')} MiB`);
      console.log(
        `Heap used after a full GC: ${fmt(heap.heapUsed)} MiB (heap total ${fmt(heap.heapTotal)} MiB)`,
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
  await slack.close();
}

/** A small deterministic generator, so two soaks send the same deliveries. */
function seeded(seed: number): () => number {
  let state = seed;
  return () => {
    state = (state + 0x6d2b79f5) | 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const SOAK_GROUPS = 200;
const SOAK_ALERTS = 10;
const SOAK_RATE = 100;
/** Most deliveries repeat what their group last said (Alertmanager's group_interval and repeat_interval). */
const SOAK_CHANGING = 0.1;

/**
 * `npm run bench -- soak`: SOAK_MINUTES (10 by default) at 100 deliveries/s, sent on a fixed schedule
 * whatever the answers, into `node dist/main.js serve`. 200 groups of 10 alerts in 10 channels; one
 * delivery in ten changes its group (an alert fires or resolves; a group all resolved closes its incident,
 * and the next change fires it again), the others repeat it. Every minute: deliveries, latency, the heap
 * after a full GC and RSS. Each reading pauses the load until the deliveries in flight are answered: the
 * full GC stops the bot for a few hundred ms, which would otherwise land in the next minute's p99.
 */
export async function soakBench() {
  const minutes = Number(process.env.SOAK_MINUTES ?? 10);
  const slack = await startSlackEmulator({ token: BOT_TOKEN });
  await withDatabase(async (url) => {
    const { port, child } = await startBot(slack, url, `bench-${randomBytes(4).toString('hex')}`, 1000);
    try {
      const random = seeded(18);
      const firing = Array.from({ length: SOAK_GROUPS }, () => Array<boolean>(SOAK_ALERTS).fill(true));
      const bodyOf = (g: number) => {
        const team = `team-${g % TEAMS}`;
        return JSON.stringify(
          payload({
            group: `Soak${g}`,
            commonLabels: { team },
            alerts: firing[g]!.map((on, i) => ({
              instance: `host-${i}`,
              status: on ? ('firing' as const) : ('resolved' as const),
              labels: { team },
              annotations: { description: `Latency above SLO on host-${i} for group ${g}` },
            })),
          }),
        );
      };
      const bodies = firing.map((_, g) => bodyOf(g));
      const row = async (minute: number, latencies: number[], statuses: Map<number | string, number>) => {
        const heap = await heapAfterGc(child);
        const { rss } = await memoryOf(child.pid!);
        const lat = latencies.length
          ? `${fmt(percentile(latencies, 0.5), 1)} | ${fmt(percentile(latencies, 0.99), 1)}`
          : ' | ';
        console.log(
          `| ${minute} | ${latencies.length} | ${lat} | ${[...statuses].map(([s, n]) => `${s}×${n}`).join(' ')} | ${fmt(heap.heapUsed)} | ${fmt(rss)} |`,
        );
      };
      console.log(
        `\n## Soak: ${minutes} min at ${SOAK_RATE} deliveries/s (${SOAK_GROUPS} groups, ${SOAK_CHANGING * 100}% changing, the rest repeats) into \`node dist/main.js serve\``,
      );
      console.log('| minute | deliveries | p50 ms | p99 ms | statuses | heap after GC MiB | RSS MiB |');
      console.log('| ---: | ---: | ---: | ---: | --- | ---: | ---: |');
      // Every group fires once before the first reading, so minute 0 is the bot with its incidents open.
      await Promise.all(bodies.map((b) => post(port, b)));
      await row(0, [], new Map());
      for (let minute = 1; minute <= minutes; minute++) {
        const latencies: number[] = [];
        const statuses = new Map<number | string, number>();
        const inFlight: Promise<void>[] = [];
        const start = performance.now();
        for (let i = 0; i < SOAK_RATE * 60; i++) {
          const wait = start + (i * 1000) / SOAK_RATE - performance.now();
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          const g = Math.floor(random() * SOAK_GROUPS);
          if (random() < SOAK_CHANGING) {
            const alert = Math.floor(random() * SOAK_ALERTS);
            firing[g]![alert] = !firing[g]![alert];
            bodies[g] = bodyOf(g);
          }
          const count = (status: number | string) => {
            statuses.set(status, (statuses.get(status) ?? 0) + 1);
          };
          inFlight.push(
            post(port, bodies[g]!).then(
              ({ status, ms }) => {
                latencies.push(ms);
                count(status);
              },
              // Counted, not thrown: a connection the bot reset is a delivery Alertmanager would retry.
              (err: NodeJS.ErrnoException) => count(err.code ?? err.message),
            ),
          );
        }
        await Promise.all(inFlight);
        await row(minute, latencies, statuses);
      }
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });
  await slack.close();
}
