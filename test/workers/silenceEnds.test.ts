import pg from 'pg';
import { afterAll, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createTestDatabase, type TestDatabase, waitFor } from '../support/services.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

/** A silence's end is recorded even when its delayed job was lost: a worker reschedules it at its start. */

let database: TestDatabase | undefined;
let bot: TestBot | undefined;
afterAll(async () => {
  await bot?.stop();
  await database?.drop();
});

it('records the end of a silence whose end job Redis no longer holds, once a worker starts', async () => {
  database = await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url });
  let id: number;
  try {
    await migrate(pool);
    const { rows } = await pool.query(
      `INSERT INTO incidents (title, severity, channel_id, group_key, group_labels, common_labels)
       VALUES ('HighLatency', 'P1', 'C0PAYMENTS', '{}:{service="pay"}', '{"service":"pay"}', '{"service":"pay"}')
       RETURNING id::int AS id`,
    );
    id = rows[0].id;
    // A silence recorded, whose job at its end is gone: Redis lost its jobs, or scheduling it failed
    // after the commit (the person was told the queue was down; the silence stood).
    await pool.query(
      `INSERT INTO incident_silences (incident_id, silence_id, marker, matchers, starts_at, ends_at, silenced_by, reason)
       VALUES ($1, '0b0e5f1c-1111-4222-8333-944445555666', 's-0b0e5f1c-1111-4222-8333-944445555666',
               '[{"name":"service","value":"pay"}]', now() - interval '2 hours', now() - interval '1 hour',
               'U0ALICE', 'deploying')`,
      [id],
    );
  } finally {
    await pool.end();
  }
  bot = await startTestBot({ database });
  // Before, it stayed live for ever: the root said "🔕 Silenced until" an hour ago, and
  // `/incident unsilence` answered that it was not silenced.
  await waitFor(
    async () =>
      (await bot!.app.pool.query('SELECT state FROM incident_silences WHERE incident_id = $1', [id])).rows[0]
        ?.state === 'ended',
    15_000,
    'the silence recorded as ended',
  );
  const { rows } = await bot.app.pool.query(
    "SELECT count(*)::int AS n FROM timeline_entries WHERE incident_id = $1 AND kind = 'silence_ended'",
    [id],
  );
  expect(rows[0].n).toBe(1);
});
