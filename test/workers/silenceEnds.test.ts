import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase, waitFor } from '../support/services.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

/**
 * A silence's end is recorded even when its delayed job was lost or never added: a worker schedules it
 * again at its start, and every minute.
 */

let database: TestDatabase | undefined;
let bot: TestBot | undefined;
/** The incident whose silence ended an hour before the bot started. */
let endedBeforeStart: number;
beforeAll(async () => {
  database = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url });
  try {
    await migrate(pool);
    endedBeforeStart = await silencedWithNoEndJob(pool, 'pay', '1 hour');
  } finally {
    await pool.end();
  }
  bot = await startTestBot({ database });
});
afterAll(async () => {
  await bot?.stop();
  await database?.drop();
});

/**
 * An incident of `service` with a silence recorded, ended `endedAgo` ago, whose job at its end is gone:
 * Redis lost its jobs, or scheduling it failed after the commit (the person was told the queue was down;
 * the silence stood). Its incident's id.
 */
async function silencedWithNoEndJob(db: pg.Pool, service: string, endedAgo: string): Promise<number> {
  const labels = JSON.stringify({ service });
  const { rows } = await db.query(
    `INSERT INTO incidents (title, severity, channel_id, group_key, group_labels, common_labels)
     VALUES ('HighLatency', 'P1', 'C0PAYMENTS', $1, $2, $2) RETURNING id::int AS id`,
    [`{}:{service="${service}"}`, labels],
  );
  const silenceId = randomUUID();
  await db.query(
    `INSERT INTO incident_silences (incident_id, silence_id, marker, matchers, starts_at, ends_at, silenced_by, reason)
     VALUES ($1, $2, $3, $4, now() - interval '2 hours', now() - $5::interval, 'U0ALICE', 'deploying')`,
    [
      rows[0].id,
      silenceId,
      `s-${silenceId}`,
      JSON.stringify([{ name: 'service', value: service }]),
      endedAgo,
    ],
  );
  return rows[0].id;
}

const silenceEnded = (id: number) =>
  waitFor(
    async () =>
      (await bot!.app.pool.query('SELECT state FROM incident_silences WHERE incident_id = $1', [id])).rows[0]
        ?.state === 'ended',
    15_000,
    'the silence recorded as ended',
  );

it('records the end of a silence whose end job Redis no longer holds, once a worker starts', async () => {
  // Before, it stayed live for ever: the root said "🔕 Silenced until" an hour ago, and
  // `/incident unsilence` answered that it was not silenced.
  await silenceEnded(endedBeforeStart);
  const { rows } = await bot!.app.pool.query(
    "SELECT count(*)::int AS n FROM timeline_entries WHERE incident_id = $1 AND kind = 'silence_ended'",
    [endedBeforeStart],
  );
  expect(rows[0].n).toBe(1);
});

it('records the end of a silence whose end job was never added, at a sweep, with no restart', async () => {
  // The bot is running: its start-time sweep is over.
  const id = await silencedWithNoEndJob(bot!.app.pool, 'disk', '1 second');
  // The worker sweeps every minute; one is asked for here rather than waited for.
  expect(await bot!.app.tasks.getJobScheduler('sweep')).toMatchObject({ every: 60_000 });
  await bot!.app.tasks.add('sweep', { kind: 'sweep' });
  await silenceEnded(id);
});
