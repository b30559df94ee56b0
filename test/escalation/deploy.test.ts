import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it, vi } from 'vitest';
import { parseFileConfig } from '../../src/config/file.js';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate.js';
import { escalationsDue } from '../../src/escalation/engine.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

const config = parseFileConfig(
  'test',
  `slack:\n  defaultChannel: C0123ABCD
escalation:
  policies:
    p1: { steps: [{ after: 0, notify: [U0ALICE] }, { after: 15m, notify: [U0BOB] }] }
  severities: { P1: p1 }
`,
);

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url });
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

/**
 * The first start with escalation must not call every level at once for the incidents already open,
 * some for days: those were being handled without it.
 */
it('escalates none of the incidents already open when escalation arrives, and new ones from step 1', async () => {
  const before = await mkdtemp(join(tmpdir(), 'migrations-'));
  try {
    await cp(MIGRATIONS_DIR, before, { recursive: true });
    for (const file of await readMigrations(before)) {
      if (file.filename >= '016') await rm(join(before, file.filename));
    }
    await migrate(pool, before);
  } finally {
    await rm(before, { recursive: true, force: true });
  }
  const insert = (groupKey: string, state: string, createdAgo: string) =>
    pool.query(
      `INSERT INTO incidents (title, severity, state, group_key, channel_id, created_at)
       VALUES ('HighLatency', 'P1', $2, $1, 'C0PAYMENTS', now() - $3::interval) RETURNING id::int AS id`,
      [groupKey, state, createdAgo],
    );
  await insert('{}:{alertname="OpenForDays"}', 'open', '3 days');
  const resolved = (await insert('{}:{alertname="ResolvedLastWeek"}', 'resolved', '7 days')).rows[0].id;

  await migrate(pool);
  expect(await escalationsDue({ pool, config })).toEqual([]);

  // An incident opened after it escalates from its first step; one reopened later does too.
  const fresh = (await insert('{}:{alertname="NewOne"}', 'open', '0 seconds')).rows[0].id;
  await pool.query("UPDATE incidents SET state = 'open', escalation_step = 0 WHERE id = $1", [resolved]);
  const due = await escalationsDue({ pool, config });
  expect(due.map((d) => [d.incidentId, d.step])).toEqual([
    [resolved, 0],
    [fresh, 0],
  ]);
});

/** The sweep runs every minute: without a policy in use, it has nothing to look for. */
it('asks PostgreSQL nothing when no route or severity names a policy', async () => {
  const unused = parseFileConfig(
    'test',
    'slack:\n  defaultChannel: C0123ABCD\nescalation:\n  policies:\n    p1: { steps: [{ after: 0, notify: [U0ALICE] }] }\n',
  );
  const query = vi.spyOn(pool, 'query');
  try {
    expect(await escalationsDue({ pool, config: unused })).toEqual([]);
    expect(query).not.toHaveBeenCalled();
  } finally {
    query.mockRestore();
  }
});

/**
 * A policy added to the config later (or a severity raised onto one) finds incidents open for days that
 * no policy counted for: they are escalated from then, one step at a time, not every step at once.
 */
it('counts the steps of an incident open long before its policy from when the policy is found', async () => {
  const insert = (groupKey: string, openedAgo: string) =>
    pool.query(
      `INSERT INTO incidents (title, severity, state, group_key, channel_id, created_at, opened_at)
       VALUES ('DiskFilling', 'P1', 'open', $1, 'C0PAYMENTS', now() - $2::interval, now() - $2::interval)
       RETURNING id::int AS id, opened_at AS "openedAt"`,
      [groupKey, openedAgo],
    );
  const old = (await insert('{}:{alertname="OpenBeforeThePolicy"}', '3 days')).rows[0];
  const recent = (await insert('{}:{alertname="OpenedAMinuteAgo"}', '1 minute')).rows[0];
  const found = Date.now();
  const due = new Map((await escalationsDue({ pool, config })).map((d) => [d.incidentId, d]));
  expect(due.get(old.id)?.at.getTime()).toBeGreaterThanOrEqual(found - 1000);
  // One opened just before is counted from its opening, as the job its opening queued would.
  expect(due.get(recent.id)?.at).toEqual(recent.openedAt);
  // The start is kept: the next look, and the step after, count from it.
  const again = (await escalationsDue({ pool, config })).find((d) => d.incidentId === old.id);
  expect(again?.at).toEqual(due.get(old.id)?.at);
});
