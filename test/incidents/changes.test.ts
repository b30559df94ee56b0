import { describe, expect, it } from 'vitest';
import { addNote, assignRole, changeSeverity, resolveIncident } from '../../src/incidents/lifecycle.js';
import { countingPool } from '../support/countingPool.js';
import { lifecycleOnDatabase } from '../support/incidents.js';

describe('a change to an incident, its timeline entry and its version', () => {
  const deps = lifecycleOnDatabase();

  const incident = async () => {
    const { rows } = await deps().pool.query<{ id: number }>(
      `INSERT INTO incidents (title, severity, channel_id, declared_by)
       VALUES ('Checkout errors', 'P2', 'C0OPS', 'U0ALICE') RETURNING id::int AS id`,
    );
    return rows[0]!.id;
  };
  const written = async (id: number) =>
    (
      await deps().pool.query(
        `SELECT i.version, i.severity, i.state,
                (SELECT json_agg(json_build_object('kind', kind, 'actor', actor, 'data', data) ORDER BY id)
                   FROM timeline_entries WHERE incident_id = i.id) AS entries
           FROM incidents i WHERE i.id = $1`,
        [id],
      )
    ).rows[0];

  it('records each entry with the version it brings in one statement', async () => {
    const id = await incident();
    const { pool: counting, sent } = countingPool(deps().pool);
    const on = { ...deps(), pool: counting };
    await addNote(on, id, 'Rolled back', 'U0BOB', 'cmd:note');
    await assignRole(on, id, 'commander', 'U0BOB', 'U0ALICE', 'cmd:role');
    await changeSeverity(on, id, 'P1', 'U0ALICE', 'cmd:severity');
    await resolveIncident(on, id, 'Fixed by the rollback', 'U0ALICE', 'cmd:resolve');
    const changes = sent.filter((text) => /INSERT INTO timeline_entries/.test(text));
    expect(changes).toHaveLength(4);
    for (const text of changes) expect(text).toMatch(/UPDATE incidents SET version = version \+ 1/);
    expect(sent.filter((text) => /UPDATE incidents SET version/.test(text))).toHaveLength(4);
    expect(await written(id)).toMatchObject({
      version: 5,
      severity: 'P1',
      state: 'resolved',
      entries: [
        { kind: 'note', actor: 'U0BOB', data: { text: 'Rolled back' } },
        { kind: 'role_assigned', actor: 'U0ALICE', data: { role: 'commander', user: 'U0BOB' } },
        { kind: 'severity_changed', actor: 'U0ALICE', data: { from: 'P2', to: 'P1' } },
        { kind: 'incident_resolved', actor: 'U0ALICE', data: { resolution: 'Fixed by the rollback' } },
      ],
    });
  });
});
