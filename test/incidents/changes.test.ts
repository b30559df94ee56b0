import { describe, expect, it } from 'vitest';
import { IncidentError } from '../../src/incidents/errors.js';
import { addNote, assignRole, changeSeverity, resolveIncident } from '../../src/incidents/lifecycle.js';
import { countingPool } from '../support/countingPool.js';
import {
  datedAtOpening,
  lifecycleOnDatabase,
  REOPENED_LATER,
  type recordingEffects,
  whileRowHeld,
} from '../support/incidents.js';

describe('a change to an incident, its timeline entry and its version', () => {
  const deps = lifecycleOnDatabase();

  const incident = async () => {
    const { rows } = await deps().pool.query<{ id: number }>(
      `INSERT INTO incidents (title, severity, channel_id, declared_by)
       VALUES ('Checkout errors', 'P2', 'C0OPS', 'U0ALICE') RETURNING id::int AS id`,
    );
    return rows[0]!.id;
  };
  /** 'done', or the code of the IncidentError the change was refused with. */
  const refusal = (work: Promise<unknown>) =>
    work.then(
      () => 'done',
      (err: unknown) => (err instanceof IncidentError ? err.code : err),
    );
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
    for (const text of changes) expect(text).toMatch(/UPDATE incidents (i )?SET version = version \+ 1/);
    expect(sent.filter((text) => /UPDATE incidents (i )?SET version/.test(text))).toHaveLength(4);
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

  it('notes and changes severity in one statement each, as it resolves', async () => {
    const id = await incident();
    const { pool: counting, sent } = countingPool(deps().pool);
    const on = { ...deps(), pool: counting };
    await addNote(on, id, 'Rolled back', 'U0BOB', 'note-counted');
    await changeSeverity(on, id, 'P1', 'U0ALICE', 'severity-counted');
    expect(sent).toHaveLength(2);
    expect(await written(id)).toMatchObject({ version: 3, severity: 'P1' });
  });

  it('refuses a replay, an unchanged severity, a resolved or missing incident, and writes nothing', async () => {
    const id = await incident();
    await addNote(deps(), id, 'Rolled back', 'U0BOB', 'note-once');
    await changeSeverity(deps(), id, 'P1', 'U0ALICE', 'severity-once');
    const before = await written(id);
    expect(await refusal(addNote(deps(), id, 'Rolled back', 'U0BOB', 'note-once'))).toBe('ALREADY_HANDLED');
    // The same request again: its severity is the incident's now, yet it is told it was handled.
    expect(await refusal(changeSeverity(deps(), id, 'P1', 'U0ALICE', 'severity-once'))).toBe(
      'ALREADY_HANDLED',
    );
    expect(await refusal(changeSeverity(deps(), id, 'P1', 'U0ALICE', 'severity-same'))).toBe('NO_CHANGE');
    expect(await refusal(addNote(deps(), 999_999, 'Where', 'U0BOB', 'note-where'))).toBe(
      'INCIDENT_NOT_FOUND',
    );
    expect(await refusal(changeSeverity(deps(), 999_999, 'P0', 'U0BOB', 'severity-where'))).toBe(
      'INCIDENT_NOT_FOUND',
    );
    expect(await written(id)).toEqual(before);
    await resolveIncident(deps(), id, 'Fixed', 'U0BOB');
    expect(await refusal(changeSeverity(deps(), id, 'P0', 'U0ALICE', 'severity-late'))).toBe(
      'ALREADY_RESOLVED',
    );
    // A resolved incident still takes notes.
    expect(await refusal(addNote(deps(), id, 'Postscript', 'U0BOB', 'note-late'))).toBe('done');
    const { rows } = await deps().pool.query(
      `SELECT request_key FROM slack_requests
        WHERE request_key IN ('severity-same', 'note-where', 'severity-where', 'severity-late')`,
    );
    expect(rows).toEqual([]);
  });

  it('counts the next update of a reopened incident from its reopening, not from an earlier opening', async () => {
    const id = await incident();
    // Its last update was three hours ago, before it resolved; it reopened twenty minutes ago.
    const { rows } = await deps().pool.query<{ openedAt: Date }>(
      `UPDATE incidents SET last_update_at = now() - interval '3 hours', opened_at = now() - interval '20 minutes'
        WHERE id = $1 RETURNING opened_at AS "openedAt"`,
      [id],
    );
    await changeSeverity(deps(), id, 'P1', 'U0ALICE', 'severity-after-reopening');
    const { rows: due } = await deps().pool.query(
      'SELECT next_update_due_at AS at FROM incidents WHERE id = $1',
      [id],
    );
    // P1's every 30 minutes (the test config's), from the reopening: not hours overdue at once.
    expect(due[0].at).toEqual(new Date(rows[0]!.openedAt.getTime() + 30 * 60_000));
  });

  it('changes the severity of an incident that waited for the row as it then is: its entry, its next update', async () => {
    const id = await incident();
    await whileRowHeld(
      deps().pool,
      id,
      "UPDATE incidents SET severity = 'P3', opened_at = '2026-11-30T00:00:00Z', last_update_at = '2026-12-01T00:00:00Z' WHERE id = $1",
      () => changeSeverity(deps(), id, 'P2', 'U0ALICE', 'severity-waited'),
    );
    const dues = () =>
      (deps().effects as ReturnType<typeof recordingEffects>).calls.filter(([name]) => name === 'updateDue');
    // P2's updates are due every 30 minutes, from the last update the row then had.
    expect(dues().at(-1)).toEqual(['updateDue', id, 0, new Date('2026-12-01T00:30:00Z'), { wasDueAt: null }]);
    const { entries } = await written(id);
    expect(entries.at(-1)).toEqual({
      kind: 'severity_changed',
      actor: 'U0ALICE',
      data: { from: 'P3', to: 'P2' },
    });
    // P4's never are.
    await changeSeverity(deps(), id, 'P4', 'U0ALICE', 'severity-none-due');
    expect(dues().at(-1)).toEqual(['updateDue', id, 0, null, { wasDueAt: new Date('2026-12-01T00:30:00Z') }]);
    const { rows } = await deps().pool.query('SELECT next_update_due_at FROM incidents WHERE id = $1', [id]);
    expect(rows[0].next_update_due_at).toBeNull();
  });

  describe('resolving it', () => {
    const entries = async (id: number) =>
      (
        await deps().pool.query(
          "SELECT actor, data FROM timeline_entries WHERE incident_id = $1 AND kind = 'incident_resolved'",
          [id],
        )
      ).rows;

    it("holds the incident's row for one statement, which commits as it ends, with no transaction around it", async () => {
      const id = await incident();
      const { pool: counting, sent } = countingPool(deps().pool);
      const resolved = await resolveIncident({ ...deps(), pool: counting }, id, 'Rolled back', 'U0BOB', 'k1');
      expect(sent).toHaveLength(1);
      expect(sent[0]).toMatch(/FOR UPDATE[\s\S]*INSERT INTO slack_requests/);
      expect(resolved).toMatchObject({ incidentId: id, severity: 'P2', afterMs: expect.any(Number) });
      const { rows } = await deps().pool.query(
        'SELECT state, status, resolution, resolved_at, version FROM incidents WHERE id = $1',
        [id],
      );
      expect(rows[0]).toMatchObject({ state: 'resolved', status: 'resolved', resolution: 'Rolled back' });
      expect(rows[0].resolved_at).toBeInstanceOf(Date);
      expect(rows[0].version).toBe(resolved.version);
      expect(await entries(id)).toEqual([
        { actor: 'U0BOB', data: { resolution: 'Rolled back', durationMs: expect.any(Number) } },
      ]);
    });

    it('is never resolved before it opened, when an alert reopened it after the resolution began', async () => {
      const id = await incident();
      // The reopening commits once the resolution waits for the row, and opens it later than the
      // resolution's start (now()), as a reopening begun after it does.
      const resolved = await whileRowHeld(deps().pool, id, REOPENED_LATER, () =>
        resolveIncident(deps(), id, 'Rolled back', 'U0BOB', 'resolve-reopened'),
      );
      expect(resolved.afterMs).toBe(0);
      // Its entry too, after the reopening's, not before it.
      expect(await datedAtOpening(deps().pool, id, 'resolved_at', 'incident_resolved')).toBe(true);
      expect(await entries(id)).toEqual([
        { actor: 'U0BOB', data: { resolution: 'Rolled back', durationMs: 0 } },
      ]);
    });

    it('refuses a replayed request, a resolved incident and a missing one, and writes nothing', async () => {
      const id = await incident();
      await resolveIncident(deps(), id, 'Fixed', 'U0BOB', 'resolve-replayed');
      expect(await refusal(resolveIncident(deps(), id, 'Fixed', 'U0BOB', 'resolve-replayed'))).toBe(
        'ALREADY_HANDLED',
      );
      expect(await refusal(resolveIncident(deps(), id, 'Again', 'U0CAROL', 'resolve-late'))).toBe(
        'ALREADY_RESOLVED',
      );
      expect(await refusal(resolveIncident(deps(), 999_999, 'Where', 'U0BOB', 'resolve-where'))).toBe(
        'INCIDENT_NOT_FOUND',
      );
      expect(await entries(id)).toHaveLength(1);
      // A refused request's key is not kept: it was not acted on.
      const { rows } = await deps().pool.query(
        "SELECT request_key FROM slack_requests WHERE request_key IN ('resolve-late', 'resolve-where')",
      );
      expect(rows).toEqual([]);
    });

    it('resolves an incident that waited for the row as it then is: reopened meanwhile, its new opening measured', async () => {
      const id = await incident();
      await resolveIncident(deps(), id, 'Fixed', 'U0BOB');
      const resolving = whileRowHeld(
        deps().pool,
        id,
        "UPDATE incidents SET state = 'open', resolved_at = NULL, opened_at = now() WHERE id = $1",
        () => resolveIncident(deps(), id, 'Fixed again', 'U0BOB'),
      );
      expect(await resolving).toMatchObject({ incidentId: id });
      expect(await entries(id)).toHaveLength(2);
    });
  });
});
