/**
 * What telling every serving process of changes costs a writer (issue 18). Each process forgets what it
 * keeps in memory as triggers tell it of changes (migrations 024–028): as rows of the unlogged table
 * `changes`, which it polls (migration 041), where they were NOTIFY before. PostgreSQL makes the commits
 * of transactions that NOTIFY take turns behind one lock for the whole server, their WAL flush included
 * (async.c, PreCommit_Notify), whether or not anyone listens: they cannot share a flush as other commits
 * do. The bot's own declare (one statement: the request's claim, the incident, its first timeline entry;
 * its queue adds left out) at ACK_CONCURRENCY callers on a pool made as the requests' is, by turns: as
 * migrated; with the same triggers whose tell_change NOTIFYs instead, as before 041, or does nothing (each
 * a function found first on the session's search_path); and with no triggers at all
 * (session_replication_role = replica, a superuser's setting, which also skips the foreign keys' checks).
 * Each variant starts on an emptied database, once PostgreSQL is at rest, and warms its own pool before it
 * is measured.
 */

import { REQUESTS_POOL_OPTIONS, REQUESTS_POOL_SIZE } from '../src/app.js';
import { parseFileConfig } from '../src/config/file.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { declareIncident, type IncidentEffects } from '../src/incidents/lifecycle.js';
import { percentile, untilQuiet, withDatabase } from './deployment.js';
import { ACK_CONCURRENCY, range, ratios } from './floors.js';

const DECLARES = 3000;
const WARM_UP = 500;

const VARIANTS = [
  { name: 'as migrated (the triggers write rows of `changes`)', options: '' },
  { name: 'the same triggers, NOTIFY (before migration 041)', options: '-c search_path=notify_sent,public' },
  { name: 'the same triggers, telling nothing', options: '-c search_path=notify_noop,public' },
  { name: 'no triggers', options: '-c session_replication_role=replica' },
];
const NO_OP = 2;

// What follows a declare (its Slack sync, reminders) is queued in Redis: not what this measures.
const noEffects = new Proxy({}, { get: () => async () => {} }) as IncidentEffects;
const config = parseFileConfig('notify-cost', 'slack:\n  defaultChannel: C0DEFAULT1\n');

export async function notifyCostBench(): Promise<void> {
  const figures = VARIANTS.map(() => ({
    perSecond: [] as number[],
    p50: [] as number[],
    p99: [] as number[],
  }));
  await withDatabase(async (url, admin) => {
    await migrate(admin);
    await admin.query(`
      CREATE SCHEMA notify_noop;
      CREATE FUNCTION notify_noop.tell_change(text, text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$;
      CREATE SCHEMA notify_sent;
      CREATE FUNCTION notify_sent.tell_change(channel text, payload text) RETURNS void LANGUAGE sql
        AS $$ SELECT pg_notify(channel, payload) $$;`);
    let n = 0;
    /** `count` declares at ACK_CONCURRENCY callers: how many a second, and each one's latency. */
    const declares = async (pool: ReturnType<typeof createPool>, count: number) => {
      const latencies: number[] = [];
      let next = 0;
      const started = performance.now();
      await Promise.all(
        Array.from({ length: ACK_CONCURRENCY }, async () => {
          while (next++ < count) {
            const sent = performance.now();
            const i = n++;
            await declareIncident(
              { pool, config, effects: noEffects },
              {
                severity: 'P3',
                title: `Bench ${i}`,
                declaredBy: 'U0BENCH',
                channelId: 'C0BENCH01',
                requestKey: `notify-cost:${i}`,
              },
            );
            latencies.push(performance.now() - sent);
          }
        }),
      );
      return { perSecond: count / ((performance.now() - started) / 1000), latencies };
    };
    for (let run = 0; run < VARIANTS.length; run++) {
      // Each run starts one variant further on: over the runs, each variant runs once in each place.
      for (let turn = 0; turn < VARIANTS.length; turn++) {
        const v = (run + turn) % VARIANTS.length;
        await admin.query('TRUNCATE incidents, slack_requests, changes CASCADE');
        await untilQuiet(process.pid);
        const at = new URL(url);
        if (VARIANTS[v]!.options) at.searchParams.set('options', VARIANTS[v]!.options);
        const pool = createPool(at.toString(), REQUESTS_POOL_SIZE, REQUESTS_POOL_OPTIONS);
        try {
          await declares(pool, WARM_UP);
          const { perSecond, latencies } = await declares(pool, DECLARES);
          figures[v]!.perSecond.push(perSecond);
          figures[v]!.p50.push(percentile(latencies, 0.5));
          figures[v]!.p99.push(percentile(latencies, 0.99));
        } finally {
          await pool.end();
        }
      }
    }
  });
  console.log(
    `\n## What telling of changes costs a declare: the bot's own declare (one statement, no queue), ${ACK_CONCURRENCY} callers on a pool of ${REQUESTS_POOL_SIZE}, ${DECLARES} a run on the pool that made ${WARM_UP} first, on an emptied database once PostgreSQL is at rest, ${VARIANTS.length} runs by turns, each variant once in each place. PostgreSQL makes the commits of transactions that NOTIFY take turns, WAL flush included, whether or not anyone listens`,
  );
  console.log('| declare | declares/s (run by run) | p50 ms | p99 ms | declares/s vs telling nothing |');
  console.log('| --- | --- | --- | --- | --- |');
  for (const [v, { name }] of VARIANTS.entries()) {
    const f = figures[v]!;
    const vsNoOp = `×${range(ratios(f.perSecond, figures[NO_OP]!.perSecond), 2)}`;
    console.log(
      `| ${name} | ${range(f.perSecond, 0)} | ${range(f.p50, 0)} | ${range(f.p99, 0)} | ${vsNoOp} |`,
    );
  }
}
