import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { parseFileConfig } from '../../src/config/file.js';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate.js';
import { escalationsDue, runEscalationStep } from '../../src/escalation/engine.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

/** When an incident's policy starts to count, across the upgrade that brought escalation_started_at. */

const config = parseFileConfig(
  'test',
  `slack:\n  defaultChannel: C0123ABCD
escalation:
  policies:
    p1: { steps: [{ after: 5m, notify: [U0ALICE] }, { after: 30m, notify: [U0BOB] }, { after: 60m, notify: [U0CAROL] }] }
  severities: { P1: p1 }
`,
);
const MINUTE = 60_000;

let db: TestDatabase;
let pool: pg.Pool;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.url });
  // The schema as it was before migration 034.
  const before = await mkdtemp(join(tmpdir(), 'migrations-'));
  try {
    await cp(MIGRATIONS_DIR, before, { recursive: true });
    for (const file of await readMigrations(before))
      if (file.filename >= '034') await rm(join(before, file.filename));
    await migrate(pool, before);
  } finally {
    await rm(before, { recursive: true, force: true });
  }
});
afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

const insert = async (alertname: string, openedAgo: string) =>
  (
    await pool.query<{ id: number; openedAt: Date }>(
      `INSERT INTO incidents (title, severity, state, group_key, channel_id, created_at, opened_at)
       VALUES ('DiskFilling', 'P1', 'open', $1, 'C0PAYMENTS', now() - $2::interval, now() - $2::interval)
       RETURNING id::int AS id, opened_at AS "openedAt"`,
      [`{}:{alertname="${alertname}"}`, openedAgo],
    )
  ).rows[0]!;

it('keeps counting from its opening an incident the upgrade finds waiting for its first step', async () => {
  // Open 20 minutes at step 0 (after 5m): due 15 minutes ago, its job waiting out an outage, say.
  const waiting = await insert('WaitingForItsFirstStep', '20 minutes');
  await migrate(pool);
  const due = (await escalationsDue({ pool, config })).find((d) => d.incidentId === waiting.id);
  expect(due?.at).toEqual(new Date(waiting.openedAt.getTime() + 5 * MINUTE));
});

it('does not run every step at once for an incident an older process reopened', async () => {
  await migrate(pool);
  const incident = await insert('ReopenedByAnOlderServe', '3 days');
  await pool.query(
    `UPDATE incidents SET escalation_started_at = opened_at, escalation_step = 3, state = 'resolved',
            resolved_at = now() WHERE id = $1`,
    [incident.id],
  );
  // An older serve's reopening (ingest.ts before migration 034): it leaves escalation_started_at.
  await pool.query(
    `UPDATE incidents SET state = 'open', resolved_at = NULL, reopen_count = reopen_count + 1,
            opened_at = now(), acknowledged_by = NULL, acknowledged_at = NULL, escalation_step = 0
      WHERE id = $1`,
    [incident.id],
  );
  const step = await runEscalationStep(
    { pool, config, groupId: () => undefined },
    { incidentId: incident.id, opening: 1, step: 0 },
  );
  // Step 0 is due 5 minutes after the reopening, not 3 days after the first opening.
  expect(step.ran).toBeUndefined();
  expect(step.next?.at.getTime()).toBeGreaterThan(Date.now() + 4 * MINUTE);
});
