import { describe, expect, it } from 'vitest';
import { remindersDue, remindMissingCommander, remindOverdueUpdate } from '../../src/incidents/reminders.js';
import { lifecycleOnDatabase, whileRowHeld } from '../support/incidents.js';

/** The commander reminder, decided from PostgreSQL as it fires (real PostgreSQL). */
describe('the commander reminder', () => {
  const lifecycle = lifecycleOnDatabase();
  /** An incident declared, its commander reminder due `dueInMs` from now (none recorded when undefined). */
  const declared = async (dueInMs?: number) =>
    (
      await lifecycle().pool.query<{ id: number }>(
        `INSERT INTO incidents (title, severity, channel_id, declared_by, commander_reminder_due_at)
         VALUES ('Queue consumers stuck', 'P2', 'C0OPS', 'U0ALICE', now() + $1::bigint * interval '1 millisecond')
         RETURNING id::int`,
        [dueInMs ?? null],
      )
    ).rows[0]!.id;
  const dueAt = async (id: number) =>
    (
      await lifecycle().pool.query<{ due: Date | null }>(
        'SELECT commander_reminder_due_at AS due FROM incidents WHERE id = $1',
        [id],
      )
    ).rows[0]!.due;
  /** How many commander reminders incident `id`'s timeline has. */
  const reminded = async (id: number) => {
    const { rows } = await lifecycle().pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM timeline_entries
        WHERE incident_id = $1 AND kind = 'reminder' AND data->>'reminder' = 'commander'`,
      [id],
    );
    return rows[0]!.n;
  };

  it('reminds once for an open incident with nobody in command', async () => {
    const id = await declared();
    expect(await remindMissingCommander(lifecycle().pool, id)).toMatchObject({ version: expect.any(Number) });
    expect(await remindMissingCommander(lifecycle().pool, id)).toEqual({ nextDueAt: null });
    expect(await reminded(id)).toBe(1);
  });

  // A stalled job run again beside itself, or a commander assigned, while it waits for the row.
  it.each([
    [
      'a run of the same reminder',
      `WITH entry AS (INSERT INTO timeline_entries (incident_id, kind, actor, data)
                      VALUES ($1, 'reminder', 'bot', '{"reminder": "commander"}'))
       UPDATE incidents SET version = version + 1 WHERE id = $1`,
      1,
    ],
    [
      'a commander assigned',
      `WITH role AS (INSERT INTO incident_roles (incident_id, role, user_id, assigned_by)
                     VALUES ($1, 'commander', 'U0BOB', 'U0ALICE'))
       UPDATE incidents SET version = version + 1 WHERE id = $1`,
      0,
    ],
  ])('says nothing when %s committed while it waited for the row', async (_what, change, entries) => {
    const id = await declared();
    const outcome = await whileRowHeld(lifecycle().pool, id, change, () =>
      remindMissingCommander(lifecycle().pool, id),
    );
    expect(outcome).toEqual({ nextDueAt: null });
    expect(await reminded(id)).toBe(entries);
  });

  it('waits for its time when run before it, saying nothing', async () => {
    const id = await declared(3_600_000);
    const outcome = await remindMissingCommander(lifecycle().pool, id);
    expect(outcome.nextDueAt).toEqual(await dueAt(id));
    expect(outcome.version).toBeUndefined();
    expect(await reminded(id)).toBe(0);
  });

  it.each([
    ['reminded', async () => {}],
    [
      'found a commander',
      (id: number) =>
        lifecycle().pool.query(
          "INSERT INTO incident_roles (incident_id, role, user_id, assigned_by) VALUES ($1, 'commander', 'U0BOB', 'U0ALICE')",
          [id],
        ),
    ],
  ])('is no longer due once it has %s', async (_what, before) => {
    const id = await declared(-1000);
    await before(id);
    expect((await remindersDue(lifecycle().pool)).filter((r) => r.incidentId === id)).toEqual([
      { reminder: 'commander', incidentId: id, dueAt: await dueAt(id) },
    ]);
    await remindMissingCommander(lifecycle().pool, id);
    expect(await dueAt(id)).toBeNull();
    expect((await remindersDue(lifecycle().pool)).filter((r) => r.incidentId === id)).toEqual([]);
  });

  it('is swept when due before the time asked, and while its incident is open', async () => {
    const soon = await declared(60_000);
    const later = await declared(600_000);
    const resolved = await declared(60_000);
    await lifecycle().pool.query(
      "UPDATE incidents SET state = 'resolved', resolved_at = now() WHERE id = $1",
      [resolved],
    );
    const due = await remindersDue(lifecycle().pool, new Date(Date.now() + 120_000));
    expect(
      due.filter((r) => [soon, later, resolved].includes(r.incidentId)).map((r) => r.incidentId),
    ).toEqual([soon]);
  });
});

/** The update reminder, decided from PostgreSQL as it fires (real PostgreSQL). */
describe('the update reminder', () => {
  const lifecycle = lifecycleOnDatabase();
  const config = {
    incidents: { updateIntervals: { P0: null, P1: null, P2: 30 * 60_000, P3: null, P4: null } },
  };

  // The assignment takes the incident's row (its version), as assigning a role does.
  it('names the commander assigned while it waited for the row', async () => {
    const { pool } = lifecycle();
    const { rows } = await pool.query<{ id: number }>(
      `INSERT INTO incidents (title, severity, channel_id, declared_by, next_update_due_at)
       VALUES ('Queue consumers stuck', 'P2', 'C0OPS', 'U0ALICE', now() - interval '1 minute')
       RETURNING id::int`,
    );
    const id = rows[0]!.id;
    await whileRowHeld(
      pool,
      id,
      `WITH role AS (INSERT INTO incident_roles (incident_id, role, user_id, assigned_by)
                     VALUES ($1, 'commander', 'U0BOB', 'U0ALICE'))
       UPDATE incidents SET version = version + 1 WHERE id = $1`,
      () => remindOverdueUpdate(pool, config, id),
    );
    const { rows: entries } = await pool.query<{ data: Record<string, string> }>(
      "SELECT data FROM timeline_entries WHERE incident_id = $1 AND kind = 'reminder'",
      [id],
    );
    expect(entries.map((e) => e.data)).toEqual([
      expect.objectContaining({ reminder: 'update', commander: 'U0BOB' }),
    ]);
  });
});
