/**
 * What PostgreSQL's change notifications cost a writer (issue 18). Every serving process forgets what it
 * keeps in memory as triggers tell it of changes (NOTIFY, migrations 024–028), and PostgreSQL makes the
 * commits of transactions that NOTIFY take turns behind one lock, their WAL flush included (async.c,
 * PreCommit_Notify): they cannot share a flush as other commits do. The bot's own declare (one statement:
 * the request's claim, the incident, its first timeline entry; its queue adds left out) at
 * ACK_CONCURRENCY callers on a pool made as the requests' is, in one database, by turns: as migrated; with
 * the same triggers whose pg_notify does nothing (a no-op found first on the session's search_path); and
 * with no triggers at all (session_replication_role = replica, which also skips foreign keys' checks).
 */

import pg from 'pg';
import { GROUP_CHANGES_CHANNEL } from '../src/alerts/shownDigests.js';
import { REQUESTS_POOL_OPTIONS, REQUESTS_POOL_SIZE } from '../src/app.js';
import { REQUESTS_LISTED_CHANNEL } from '../src/approvals/requests.js';
import { parseFileConfig } from '../src/config/file.js';
import { migrate } from '../src/db/migrate.js';
import { createPool } from '../src/db/pool.js';
import { INCIDENT_STATS_CHANNEL } from '../src/incidents/incidentStats.js';
import { OPEN_INCIDENTS_CHANNEL } from '../src/incidents/incidentStore.js';
import { declareIncident, type IncidentEffects } from '../src/incidents/lifecycle.js';
import { INCIDENT_TIMELINE_CHANNEL } from '../src/incidents/timeline.js';
import { percentile, withDatabase } from './deployment.js';
import { ACK_CONCURRENCY, RUNS, range } from './floors.js';

const DECLARES = 3000;
const WARM_UP = 500;

const CHANNELS = [
  GROUP_CHANGES_CHANNEL,
  INCIDENT_STATS_CHANNEL,
  INCIDENT_TIMELINE_CHANNEL,
  OPEN_INCIDENTS_CHANNEL,
  REQUESTS_LISTED_CHANNEL,
];

const VARIANTS = [
  { name: 'as migrated (the triggers NOTIFY)', options: '' },
  { name: 'the same triggers, pg_notify a no-op', options: '-c search_path=public,pg_catalog' },
  { name: 'no triggers', options: '-c session_replication_role=replica' },
];

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
    await admin.query(
      'CREATE FUNCTION public.pg_notify(text, text) RETURNS void LANGUAGE plpgsql AS $$ BEGIN END $$',
    );
    // As a serving process does: one session listening to every channel the triggers tell.
    const listener = new pg.Client({ connectionString: url });
    await listener.connect();
    await listener.query(CHANNELS.map((channel) => `LISTEN ${channel}`).join('; '));
    let n = 0;
    const declares = async (options: string, count: number) => {
      const at = new URL(url);
      if (options) at.searchParams.set('options', options);
      const pool = createPool(at.toString(), REQUESTS_POOL_SIZE, REQUESTS_POOL_OPTIONS);
      const latencies: number[] = [];
      let next = 0;
      const started = performance.now();
      try {
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
      } finally {
        await pool.end();
      }
      return { perSecond: count / ((performance.now() - started) / 1000), latencies };
    };
    try {
      for (let run = 0; run < RUNS; run++) {
        // Forwards, then backwards: each variant goes before and after the others.
        const order = VARIANTS.map((_, i) => i);
        for (const v of run % 2 ? order.toReversed() : order) {
          await declares(VARIANTS[v]!.options, WARM_UP);
          const { perSecond, latencies } = await declares(VARIANTS[v]!.options, DECLARES);
          figures[v]!.perSecond.push(perSecond);
          figures[v]!.p50.push(percentile(latencies, 0.5));
          figures[v]!.p99.push(percentile(latencies, 0.99));
        }
      }
    } finally {
      await listener.end();
    }
  });
  console.log(
    `\n## What the change notifications cost a declare: the bot's own declare (one statement, no queue), ${ACK_CONCURRENCY} callers on a pool of ${REQUESTS_POOL_SIZE}, ${DECLARES} a run after ${WARM_UP}, ${RUNS} runs by turns, a session listening as a serving process does. PostgreSQL makes the commits of transactions that NOTIFY take turns, WAL flush included`,
  );
  console.log('| declare | declares/s (run by run) | p50 ms | p99 ms |');
  console.log('| --- | --- | --- | --- |');
  for (const [v, { name }] of VARIANTS.entries()) {
    const f = figures[v]!;
    console.log(`| ${name} | ${range(f.perSecond, 0)} | ${range(f.p50, 1)} | ${range(f.p99, 1)} |`);
  }
}
