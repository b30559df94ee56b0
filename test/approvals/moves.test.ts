import { beforeAll, describe, expect, it } from 'vitest';
import {
  cancelRequest,
  castVote,
  createRequest,
  loadRequest,
  transition,
} from '../../src/approvals/requests.js';
import type { Pool } from '../../src/db/pool.js';
import { incidentOnDatabase, scaleRequest } from '../support/approvals.js';
import { countingPool } from '../support/countingPool.js';
import { waitForLockWaiters } from '../support/services.js';

/** Each move of a request: guarded, with its audit row and its timeline entry, in one statement. */
describe("a request's moves", () => {
  const database = incidentOnDatabase();
  let pool: Pool;
  let incidentId: number;
  beforeAll(() => {
    ({ pool, incidentId } = database());
  });

  const open = (requestKey: string, requiredApprovals = 1) =>
    createRequest(pool, scaleRequest(incidentId, { requestKey, requiredApprovals, params: { replicas: 4 } }));

  const recorded = async (id: number) => ({
    events: (
      await pool.query(
        'SELECT actor, from_status, to_status, from_version, to_version, detail FROM action_request_events WHERE request_id = $1 ORDER BY id',
        [id],
      )
    ).rows,
    entries: (
      await pool.query(
        "SELECT kind, actor, data FROM timeline_entries WHERE incident_id = $1 AND data->>'request' = $2 ORDER BY id",
        [incidentId, `ACT-${id}`],
      )
    ).rows,
  });

  it('cancels in one prepared statement: the claim, the locked read, the move, its event and its entry', async () => {
    const request = await open('click:to-cancel');
    const { pool: counting, sent, unnamed } = countingPool(pool);
    const cancelled = await cancelRequest(counting, request.id, 'U0ALICE', 'click:cancel');
    expect(sent).toHaveLength(1);
    expect(unnamed).toEqual([]);
    expect(cancelled).toEqual(await loadRequest(pool, request.id));
    expect(cancelled).toMatchObject({ status: 'cancelled', version: 2, finishedAt: expect.any(Date) });
    const { events, entries } = await recorded(request.id);
    expect(events.at(-1)).toEqual({
      actor: 'U0ALICE',
      from_status: 'pending',
      to_status: 'cancelled',
      from_version: 1,
      to_version: 2,
      detail: null,
    });
    expect(entries.map((e) => [e.kind, e.actor])).toEqual([
      ['action_requested', 'U0ALICE'],
      ['action_cancelled', 'U0ALICE'],
    ]);
    expect(entries[1].data).toEqual({
      request: `ACT-${request.id}`,
      action: 'scale',
      service: 'payments-api',
    });
  });

  it('refuses a cancel by another, of a request no longer waiting, of none, and a replay; each writes nothing', async () => {
    const request = await open('click:to-refuse');
    const refusal = (userId: string, key: string, id = request.id) =>
      cancelRequest(pool, id, userId, key).then(
        () => 'cancelled',
        (err: { code?: string; message: string }) => `${err.code}: ${err.message}`,
      );
    expect(await refusal('U0BOB', 'cancel:by-bob')).toBe(
      `NOT_REQUESTER: Only <@U0ALICE>, who requested ACT-${request.id}, can cancel it.`,
    );
    expect(await refusal('U0ALICE', 'cancel:nowhere', 987_654)).toBe(
      'REQUEST_NOT_FOUND: There is no action request ACT-987654.',
    );
    expect(await refusal('U0ALICE', 'cancel:first')).toBe('cancelled');
    expect(await refusal('U0ALICE', 'cancel:first')).toMatch(/^ALREADY_HANDLED: /);
    expect(await refusal('U0ALICE', 'cancel:again')).toBe(
      `NOT_PENDING: ACT-${request.id} is cancelled; it can no longer be cancelled.`,
    );
    const { events, entries } = await recorded(request.id);
    expect(events.map((e) => e.to_status)).toEqual(['pending', 'cancelled']);
    expect(entries.map((e) => e.kind)).toEqual(['action_requested', 'action_cancelled']);
    // A refused cancel's key is not kept: it was not acted on.
    const { rows } = await pool.query(
      "SELECT request_key FROM slack_requests WHERE request_key IN ('cancel:by-bob', 'cancel:nowhere', 'cancel:again')",
    );
    expect(rows).toEqual([]);
  });

  it('cancels a request as a vote it waited for left it: approved, its move from that version', async () => {
    const request = await open('click:voted-meanwhile');
    const voter = await pool.connect();
    try {
      await voter.query('BEGIN');
      const locked = await loadRequest(voter, request.id, true);
      await transition(voter, locked, 'approved', 'U0BOB');
      const cancelled = cancelRequest(pool, request.id, 'U0ALICE', 'click:cancel-after-vote');
      await waitForLockWaiters(pool, 1, 'the cancel waiting for the vote');
      await voter.query('COMMIT');
      expect(await cancelled).toMatchObject({ status: 'cancelled', version: 3 });
    } finally {
      voter.release();
    }
    const { events } = await recorded(request.id);
    expect(events.at(-1)).toMatchObject({ from_status: 'approved', from_version: 2, to_version: 3 });
  });

  it('records the deciding vote, its approvers on the timeline, and returns the request as it is then', async () => {
    const request = await open('click:to-approve', 2);
    const first = await castVote(pool, request.id, 'U0BOB', 'approve', () => {});
    expect(first).toMatchObject({
      decided: 'recorded',
      approvals: 1,
      request: { status: 'pending', version: 2 },
    });
    const second = await castVote(pool, request.id, 'U0CAROL', 'approve', () => {});
    expect(second).toMatchObject({ decided: 'approved', approvals: 2 });
    expect(second.request).toEqual(await loadRequest(pool, request.id));
    expect(second.request).toMatchObject({ status: 'approved', version: 3 });
    const { events, entries } = await recorded(request.id);
    expect(events.at(-1)).toEqual({
      actor: 'U0CAROL',
      from_status: 'pending',
      to_status: 'approved',
      from_version: 2,
      to_version: 3,
      detail: '2 of 2 approvals',
    });
    expect(entries.at(-1)).toEqual({
      kind: 'action_approved',
      actor: 'U0CAROL',
      data: {
        request: `ACT-${request.id}`,
        action: 'scale',
        service: 'payments-api',
        approvedBy: ['U0BOB', 'U0CAROL'],
      },
    });
  });

  it('writes no audit row or timeline entry for a move that lost its race', async () => {
    const request = await open('click:raced');
    await cancelRequest(pool, request.id, 'U0ALICE', 'click:raced-cancel');
    const client = await pool.connect();
    try {
      // As read before the cancel: pending, version 1.
      const move = transition(client, request, 'approved', 'U0BOB', {
        timeline: { kind: 'action_approved' },
      });
      await expect(move).rejects.toMatchObject({ code: 'CONFLICT' });
    } finally {
      client.release();
    }
    const { events, entries } = await recorded(request.id);
    expect(events.map((e) => e.to_status)).toEqual(['pending', 'cancelled']);
    expect(entries.map((e) => e.kind)).toEqual(['action_requested', 'action_cancelled']);
  });
});
