import { beforeAll, describe, expect, it } from 'vitest';
import type { Pool } from '../../src/db/pool.js';
import type { IncidentError } from '../../src/incidents/errors.js';
import {
  declareIncident,
  type LifecycleDeps,
  postStatusUpdate,
  resolveIncident,
} from '../../src/incidents/lifecycle.js';
import { countingPool } from '../support/countingPool.js';
import { lifecycleOnDatabase } from '../support/incidents.js';
import { waitForLockWaiters } from '../support/services.js';

describe('posting a status update', () => {
  const lifecycle = lifecycleOnDatabase();
  let pool: Pool;
  let deps: LifecycleDeps;
  beforeAll(() => {
    deps = lifecycle();
    pool = deps.pool;
  });

  const declare = async (severity: 'P2' | 'P4' = 'P2') =>
    (
      await declareIncident(deps, {
        severity,
        title: 'Checkout errors',
        declaredBy: 'U0ALICE',
        channelId: 'C0OPS',
      })
    ).incidentId;
  const entries = async (id: number) =>
    (
      await pool.query<{ data: Record<string, unknown> }>(
        "SELECT data FROM timeline_entries WHERE incident_id = $1 AND kind = 'status_update' ORDER BY id",
        [id],
      )
    ).rows.map((r) => r.data);
  const failure = (work: Promise<unknown>) =>
    work.then(
      () => 'done',
      (err: { code?: string }) => err.code,
    );

  it('numbers the update, records it with when the next is due, and bumps the version', async () => {
    const id = await declare();
    const result = await postStatusUpdate(deps, id, {
      text: 'Pool exhausted',
      status: 'identified',
      impact: 'Checkout fails for 5%',
      by: 'U0BOB',
    });
    expect(result).toMatchObject({ incidentId: id, ref: `INC-${id}`, number: 1 });
    const { rows } = await pool.query(
      'SELECT version, update_count, status, impact, next_update_due_at FROM incidents WHERE id = $1',
      [id],
    );
    expect(rows[0]).toMatchObject({ version: result.version, update_count: 1, status: 'identified' });
    const due: Date = rows[0].next_update_due_at;
    expect(due.getTime() - Date.now()).toBeGreaterThan(29 * 60_000);
    expect(await entries(id)).toEqual([
      {
        number: 1,
        text: 'Pool exhausted',
        status: 'identified',
        impact: 'Checkout fails for 5%',
        nextUpdateAt: due.toISOString(),
      },
    ]);
    // A severity with no interval: none due, and the entry says none.
    const quiet = await declare('P4');
    await postStatusUpdate(deps, quiet, { text: 'Watching', by: 'U0BOB' });
    expect(await entries(quiet)).toEqual([{ number: 1, text: 'Watching' }]);
  });

  it('refuses a replayed request, a resolved incident and a missing one, and writes nothing', async () => {
    const id = await declare();
    await postStatusUpdate(deps, id, { text: 'First', by: 'U0BOB', requestKey: 'update-replayed' });
    expect(
      await failure(
        postStatusUpdate(deps, id, { text: 'Again', by: 'U0BOB', requestKey: 'update-replayed' }),
      ),
    ).toBe('ALREADY_HANDLED');
    await resolveIncident(deps, id, 'Fixed', 'U0BOB');
    expect(
      await failure(postStatusUpdate(deps, id, { text: 'Late', by: 'U0BOB', requestKey: 'update-late' })),
    ).toBe('ALREADY_RESOLVED');
    expect(await failure(postStatusUpdate(deps, 999_999, { text: 'Where', by: 'U0BOB' }))).toBe(
      'INCIDENT_NOT_FOUND',
    );
    expect((await entries(id)).map((e) => e.text)).toEqual(['First']);
    // A refused request's key is not kept: it was not acted on.
    const { rows } = await pool.query("SELECT 1 FROM slack_requests WHERE request_key = 'update-late'");
    expect(rows).toHaveLength(0);
  });

  it('applies an update that waited for the row to the incident as it then is: reopened meanwhile', async () => {
    const id = await declare();
    await resolveIncident(deps, id, 'Fixed', 'U0BOB');
    const reopening = await pool.connect();
    try {
      await reopening.query('BEGIN');
      await reopening.query("UPDATE incidents SET state = 'open', resolved_at = NULL WHERE id = $1", [id]);
      const update = postStatusUpdate(deps, id, { text: 'Back again', by: 'U0BOB' });
      await waitForLockWaiters(pool, 1, 'the update to wait for the row');
      await reopening.query('COMMIT');
      expect(await update).toMatchObject({ number: 1 });
    } finally {
      reopening.release();
    }
  });

  it('numbers 20 updates made at once 1 to 20', async () => {
    const id = await declare();
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) => postStatusUpdate(deps, id, { text: `step ${i}`, by: 'U0BOB' })),
    );
    expect(results.map((r) => r.number).sort((a, b) => a - b)).toEqual(
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    expect((await entries(id)).map((e) => e.number)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
  });

  it("holds the incident's row for one statement, which commits as it ends, with no transaction around it", async () => {
    const id = await declare();
    const { pool: counting, sent } = countingPool(pool);
    await postStatusUpdate({ ...deps, pool: counting }, id, {
      text: 'Counted',
      by: 'U0BOB',
      requestKey: 'k1',
    });
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/FOR UPDATE[\s\S]*INSERT INTO slack_requests/);
  });

  it('tells a replay that waited for the row behind its twin that the request was handled', async () => {
    const id = await declare();
    const holding = await pool.connect();
    try {
      await holding.query('BEGIN');
      await holding.query('SELECT 1 FROM incidents WHERE id = $1 FOR UPDATE', [id]);
      const twice = [1, 2].map(() =>
        postStatusUpdate(deps, id, { text: 'Retried by Slack', by: 'U0BOB', requestKey: 'update-twin' }).then(
          (r) => r.number,
          (err: IncidentError) => err.code,
        ),
      );
      await waitForLockWaiters(pool, 2, 'both to wait for the row');
      await holding.query('COMMIT');
      expect((await Promise.all(twice)).sort()).toEqual([1, 'ALREADY_HANDLED']);
    } finally {
      holding.release();
    }
    expect((await entries(id)).map((e) => e.text)).toEqual(['Retried by Slack']);
  });
});
