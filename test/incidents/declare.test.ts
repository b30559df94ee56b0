import { beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../src/db/pool.js';
import { declareIncident, type LifecycleDeps } from '../../src/incidents/lifecycle.js';
import { countingPool } from '../support/countingPool.js';
import { lifecycleOnDatabase } from '../support/incidents.js';

describe('declaring an incident', () => {
  const lifecycle = lifecycleOnDatabase();
  let pool: Pool;
  let deps: LifecycleDeps;
  beforeAll(() => {
    deps = lifecycle();
    pool = deps.pool;
  });

  const declare = (severity: 'P2' | 'P4', requestKey?: string, on: Pool = pool) =>
    declareIncident(
      { ...deps, pool: on },
      {
        severity,
        title: `Checkout errors ${severity}`,
        declaredBy: 'U0ALICE',
        channelId: 'C0OPS',
        ...(requestKey ? { requestKey } : {}),
      },
    );
  const recorded = async (id: number) =>
    (
      await pool.query(
        `SELECT i.title, i.severity, i.channel_id, i.declared_by, i.version,
                extract(epoch FROM i.next_update_due_at - i.created_at)::int AS due_after_s,
                (SELECT json_agg(json_build_object('kind', kind, 'actor', actor, 'data', data))
                   FROM timeline_entries WHERE incident_id = i.id) AS entries
           FROM incidents i WHERE i.id = $1`,
        [id],
      )
    ).rows[0];

  it('writes the claim, the incident and its first timeline entry in one statement', async () => {
    const { pool: counting, sent } = countingPool(pool);
    const declared = await declare('P2', 'cmd:declare-once', counting);
    expect(sent).toHaveLength(1);
    expect(declared).toMatchObject({ ref: `INC-${declared.incidentId}`, version: 1 });
    expect(await recorded(declared.incidentId)).toEqual({
      title: 'Checkout errors P2',
      severity: 'P2',
      channel_id: 'C0OPS',
      declared_by: 'U0ALICE',
      version: 1,
      due_after_s: 1800,
      entries: [
        {
          kind: 'incident_declared',
          actor: 'U0ALICE',
          data: { title: 'Checkout errors P2', severity: 'P2' },
        },
      ],
    });
  });

  it('declares nothing for a request already handled', async () => {
    await declare('P4', 'cmd:declare-twice');
    const { rows: before } = await pool.query('SELECT count(*)::int AS n FROM incidents');
    await expect(declare('P4', 'cmd:declare-twice')).rejects.toMatchObject({ code: 'ALREADY_HANDLED' });
    const { rows: after } = await pool.query('SELECT count(*)::int AS n FROM incidents');
    expect(after).toEqual(before);
  });

  it('sets no update due for a severity without an interval, and needs no request key', async () => {
    const declared = await declare('P4');
    expect(await recorded(declared.incidentId)).toMatchObject({ severity: 'P4', due_after_s: null });
  });
});
