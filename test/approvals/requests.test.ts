import type pg from 'pg';
import { beforeAll, describe, expect, it } from 'vitest';
import { createRequest, type NewRequest, requestsDue } from '../../src/approvals/requests.js';
import { createPool, type Pool } from '../../src/db/pool.js';
import { incidentOnDatabase, scaleRequest } from '../support/approvals.js';
import { countingPool } from '../support/countingPool.js';

/** A button two people may press at once (a playbook's action): one request, however many press it. */
describe('opening a request unless the incident has it open', () => {
  const database = incidentOnDatabase();
  let pool: Pool;
  let incidentId: number;
  beforeAll(() => {
    ({ pool, incidentId } = database());
  });

  const press = (requestKey: string, requestedBy = 'U0ALICE'): NewRequest =>
    scaleRequest(incidentId, { requestKey, requestedBy, unlessOpen: true });

  /** A connection in a transaction holding the lock that orders presses of the scale button. */
  const holdingTheLock = async () => {
    const holder = await pool.connect();
    await holder.query('BEGIN');
    await holder.query(
      "SELECT pg_advisory_xact_lock(hashtextextended('action-request:' || $1 || ':' || $2, 0))",
      [incidentId, 'payments-api/scale'],
    );
    return holder;
  };

  it('refuses a press once the request is open without waiting for the lock that orders presses', async () => {
    const first = await createRequest(pool, press('click:first'));
    // Presses at once are ordered by a transaction lock; here another press holds it, and keeps it.
    const holder = await holdingTheLock();
    try {
      await expect(createRequest(pool, press('click:second', 'U0CAROL'))).rejects.toMatchObject({
        code: 'ALREADY_REQUESTED',
        message: expect.stringContaining(`(requested by <@U0ALICE>)`),
      });
      // A replay of the press that opened it is told so, not that it is open.
      const replay = createRequest(pool, press('click:first'));
      await holder.query('COMMIT');
      await expect(replay).rejects.toMatchObject({ code: 'ALREADY_HANDLED' });
    } finally {
      holder.release();
    }
    const { rows } = await pool.query(
      'SELECT id::int AS id FROM action_requests WHERE params = \'{"replicas": 6}\'',
    );
    expect(rows).toEqual([{ id: first.id }]);
  });

  it('a press that finds another opening the request waits for it without holding a connection', async () => {
    const other = { ...press('click:press'), params: { replicas: 7 } };
    const holder = await holdingTheLock();
    // The press's pool has one connection: waiting for the lock, it would hold it.
    const presses = createPool(pool.options.connectionString!, 1);
    try {
      const pressed = createRequest(presses, other).then(
        () => 'opened',
        (err: { code?: string }) => err.code,
      );
      for (let i = 0; i < 5; i++) {
        await presses.query('SELECT 1');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      // What the holder was opening commits, and lets go of the lock: the press finds it open.
      await createRequest(pool, { ...other, requestKey: 'click:holder', unlessOpen: false });
      await holder.query('COMMIT');
      expect(await pressed).toBe('ALREADY_REQUESTED');
    } finally {
      holder.release();
      await presses.end();
    }
  });

  it('tells a press whose button another press holds for long that it is being opened, and opens nothing', async () => {
    const held = { ...press('click:held'), params: { replicas: 8 } };
    // A press whose connection went silent holding the lock.
    const holder = await holdingTheLock();
    try {
      await expect(createRequest(pool, held, { pressWaitMs: 100 })).rejects.toMatchObject({
        code: 'CONFLICT',
        message: expect.stringContaining('still opening its request'),
      });
    } finally {
      await holder.query('ROLLBACK');
      holder.release();
    }
    const { rows } = await pool.query("SELECT 1 FROM slack_requests WHERE request_key = 'click:held'");
    expect(rows).toHaveLength(0);
  });

  it('opens a request in one look, then BEGIN, two statements and COMMIT, with its event and timeline entry', async () => {
    const { pool: counting, sent, unnamed } = countingPool(pool);
    const opened = await createRequest(counting, {
      ...press('click:counted'),
      params: { replicas: 9 },
    });
    // The look for it open, outside the transaction; then the transaction, holding its connection briefly.
    expect(sent).toHaveLength(5);
    expect(sent[1]).toBe('BEGIN');
    expect(sent[4]).toBe('COMMIT');
    // Prepared: PostgreSQL parses the look and the two statements once per connection, not at every press.
    expect(unnamed).toEqual(['BEGIN', 'COMMIT']);
    expect(opened).toMatchObject({ incidentId, status: 'pending', version: 1, params: { replicas: 9 } });
    const { rows: events } = await pool.query(
      'SELECT actor, from_status, to_status, to_version FROM action_request_events WHERE request_id = $1',
      [opened.id],
    );
    expect(events).toEqual([{ actor: 'U0ALICE', from_status: null, to_status: 'pending', to_version: 1 }]);
    const { rows: entries } = await pool.query(
      "SELECT actor, data FROM timeline_entries WHERE incident_id = $1 AND kind = 'action_requested' AND data->>'request' = $2",
      [incidentId, `ACT-${opened.id}`],
    );
    expect(entries).toEqual([
      {
        actor: 'U0ALICE',
        data: {
          request: `ACT-${opened.id}`,
          action: 'scale',
          service: 'payments-api',
          params: { replicas: 9 },
        },
      },
    ]);
  });

  it('refuses, keeping nothing, a press whose look missed a request opened just before its lock', async () => {
    const raced = { ...press('click:raced'), params: { replicas: 10 } };
    const holder = await holdingTheLock();
    // The press that won: its request written, not yet committed.
    await holder.query(
      `INSERT INTO action_requests (incident_id, action, service, params, requested_by, channel_id, required_approvals, expires_at)
       VALUES ($1, 'scale', 'payments-api', '{"replicas": 10}', 'U0BOB', 'C0OPS', 1, now() + interval '15 minutes')`,
      [incidentId],
    );
    // The press's look outside the transaction finds nothing; the winner commits before the press's lock.
    const racing = Object.create(pool, {
      connect: { value: () => pool.connect() },
      query: {
        value: async (...args: Parameters<pg.Pool['query']>) => {
          const result = await (pool.query as (...a: unknown[]) => Promise<unknown>)(...args);
          await holder.query('COMMIT');
          return result;
        },
      },
    }) as pg.Pool;
    try {
      await expect(createRequest(racing, raced)).rejects.toMatchObject({ code: 'ALREADY_REQUESTED' });
    } finally {
      holder.release();
    }
    const { rows } = await pool.query(
      `SELECT (SELECT count(*)::int FROM action_requests WHERE params = '{"replicas": 10}') AS requests,
              (SELECT count(*)::int FROM slack_requests WHERE request_key = 'click:raced') AS claims`,
    );
    expect(rows).toEqual([{ requests: 1, claims: 0 }]);
  });
});

/** /action: a person asks once; Slack may deliver the command twice. */
describe('opening a request a command asks for', () => {
  const database = incidentOnDatabase();
  let pool: Pool;
  let incidentId: number;
  beforeAll(() => {
    ({ pool, incidentId } = database());
  });

  const written = async (requestKey: string) =>
    (
      await pool.query(
        `SELECT (SELECT count(*)::int FROM slack_requests WHERE request_key = $1) AS claims,
                (SELECT count(*)::int FROM action_requests) AS requests,
                (SELECT count(*)::int FROM action_request_events) AS events,
                (SELECT count(*)::int FROM timeline_entries WHERE kind = 'action_requested') AS entries`,
        [requestKey],
      )
    ).rows[0];

  it('claims the command and writes the request, its event and its timeline entry in one statement', async () => {
    const before = await written('command:once');
    const { pool: counting, sent, unnamed } = countingPool(pool);
    const opened = await createRequest(counting, scaleRequest(incidentId, { requestKey: 'command:once' }));
    expect(sent).toHaveLength(1);
    expect(unnamed).toEqual([]);
    expect(opened).toMatchObject({ incidentId, status: 'pending', version: 1, params: { replicas: 6 } });
    expect(await written('command:once')).toEqual({
      claims: 1,
      requests: before.requests + 1,
      events: before.events + 1,
      entries: before.entries + 1,
    });
    const { rows: entries } = await pool.query(
      "SELECT data FROM timeline_entries WHERE kind = 'action_requested' AND data->>'request' = $1",
      [`ACT-${opened.id}`],
    );
    expect(entries).toEqual([
      {
        data: {
          request: `ACT-${opened.id}`,
          action: 'scale',
          service: 'payments-api',
          params: { replicas: 6 },
        },
      },
    ]);
  });

  it('opens nothing for a replay of the command, and no timeline entry for a request of no incident', async () => {
    const first = await createRequest(pool, scaleRequest(incidentId, { requestKey: 'command:twice' }));
    const after = await written('command:twice');
    await expect(
      createRequest(pool, scaleRequest(incidentId, { requestKey: 'command:twice' })),
    ).rejects.toMatchObject({ code: 'ALREADY_HANDLED' });
    expect(await written('command:twice')).toEqual(after);
    const none = await createRequest(pool, {
      ...scaleRequest(incidentId, { requestKey: 'command:nowhere' }),
      incidentId: null,
    });
    expect(none).toMatchObject({ incidentId: null, status: 'pending' });
    // The replay took no id.
    expect(none.id).toBe(first.id + 1);
    expect(await written('command:nowhere')).toEqual({
      ...after,
      claims: 1,
      requests: after.requests + 1,
      events: after.events + 1,
    });
  });

  it('writes nothing, its claim included, when the request cannot be written', async () => {
    const before = await written('command:failing');
    // No such incident: the request's row refers to one.
    await expect(
      createRequest(pool, {
        ...scaleRequest(incidentId, { requestKey: 'command:failing' }),
        incidentId: 999_999,
      }),
    ).rejects.toMatchObject({ code: '23503' });
    expect(await written('command:failing')).toEqual(before);
  });
});

/** What the actions sweep queues again: each open request that needs the worker, however many wait for votes. */
describe('the requests due a job', () => {
  const database = incidentOnDatabase();
  let pool: Pool;
  beforeAll(() => {
    ({ pool } = database());
  });

  const insert = (count: number, status: string, expired: boolean, dryRun = 'none') =>
    pool.query(
      `INSERT INTO action_requests (action, service, requested_by, channel_id, required_approvals, status,
              expires_at, dry_run_status)
       SELECT 'scale', 'payments-api', 'U0ALICE', 'C0OPS', 1, $2, now() + $3::interval, $4
         FROM generate_series(1, $1)`,
      [count, status, expired ? '-1 minute' : '15 minutes', dryRun],
    );

  it('lists them past a page, oldest first, and leaves out the requests waiting for votes', async () => {
    await insert(700, 'pending', false);
    await insert(300, 'approved', false);
    await insert(1, 'pending', false, 'running');
    await insert(300, 'pending', true);
    await insert(1, 'running', false);
    await insert(50, 'succeeded', false);
    const due = [];
    for await (const job of requestsDue(pool)) due.push(job);
    const kinds = due.map((job) => job.kind);
    expect(kinds).toEqual([
      ...Array<string>(300).fill('run'),
      'dry-run',
      ...Array<string>(300).fill('expire'),
      'run',
    ]);
    const ids = due.map((job) => job.requestId);
    expect(ids).toEqual([...ids].sort((a, b) => a - b));
  });
});
