import { describe, expect, it } from 'vitest';
import { remindMissingCommander } from '../../src/incidents/reminders.js';
import { lifecycleOnDatabase, whileRowHeld } from '../support/incidents.js';

/** The commander reminder, decided from PostgreSQL as it fires (real PostgreSQL). */
describe('the commander reminder', () => {
  const lifecycle = lifecycleOnDatabase();
  const declared = async () =>
    (
      await lifecycle().pool.query<{ id: number }>(
        `INSERT INTO incidents (title, severity, channel_id, declared_by)
         VALUES ('Queue consumers stuck', 'P2', 'C0OPS', 'U0ALICE') RETURNING id::int`,
      )
    ).rows[0]!.id;
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
});
