import { createServer, request as httpRequest, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Queue } from 'bullmq';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { ingestNextDelivery } from '../../src/alerts/deliveries.js';
import { AcceptWaitedTooLong, DeliveryAcceptor } from '../../src/alerts/deliveryAcceptor.js';
import { parseFileConfig } from '../../src/config/file.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { alertmanagerRoute, toHttpError } from '../../src/http/alertmanagerRoute.js';
import { HttpError } from '../../src/http/respond.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { SlackSyncJob } from '../../src/queues/queues.js';
import { payload } from '../support/alertmanager.js';
import { recordingLogger } from '../support/logLines.js';
import { createTestDatabase, setDatabaseReachable, type TestDatabase, waitFor } from '../support/services.js';

const TOKEN = 'am-token-unit-test-abcdefgh';

describe('toHttpError: what Alertmanager is told, which retries a 5xx and drops a 4xx', () => {
  let client: pg.Client;
  let url: string;
  beforeAll(async () => {
    const db = await createTestDatabase();
    url = db.url;
    client = new pg.Client({ connectionString: url });
    await client.connect();
    return async () => {
      await client.end();
      await db.drop();
    };
  });
  const failureOf = (sql: string) =>
    client.query(sql).then(
      () => expect.unreachable(`${sql} succeeded`),
      (err: unknown) => err,
    );

  it('400 for a value PostgreSQL refuses (SQLSTATE class 22): no retry can ever succeed', async () => {
    for (const [sql, code] of [
      [`SELECT '"\\ud800"'::jsonb`, '22P02'],
      ["SELECT 'x'::int", '22P02'],
      ["SELECT convert_from('\\xff'::bytea, 'UTF8')", '22021'],
    ] as const) {
      const answer = toHttpError(await failureOf(sql));
      expect(answer).toMatchObject({ status: 400, headers: {} });
      expect(answer.message).toBe(`the database refused a value in the payload (SQLSTATE ${code})`);
    }
  });

  it('503 with retry-after while the database is unreachable or turns connections away', async () => {
    const connectFailure = (url: string) =>
      new pg.Client({ connectionString: url }).connect().catch((err: unknown) => err);
    const closed = await createTestDatabase();
    await setDatabaseReachable(closed.url, false);
    const failures = [
      await connectFailure('postgres://nobody@127.0.0.1:1/none'),
      await connectFailure(closed.url), // SQLSTATE 55000: not currently accepting connections
    ];
    await setDatabaseReachable(closed.url, true);
    await closed.drop();
    for (const err of failures)
      expect(toHttpError(err)).toMatchObject({ status: 503, headers: { 'retry-after': '5' } });
  });

  it('503 with retry-after when a statement goes unanswered past its timeout, or a delivery waited too long for one', async () => {
    const timeoutPool = createPool(url, 1, { queryTimeoutMs: 100 });
    const unanswered = await timeoutPool.query('SELECT pg_sleep(1)').catch((err: unknown) => err);
    await timeoutPool.end();
    for (const err of [unanswered, new AcceptWaitedTooLong(10_000)])
      expect(toHttpError(err)).toMatchObject({ status: 503, headers: { 'retry-after': '5' } });
  });

  it('500 "internal error" for any other database error or a bug, without their message', async () => {
    for (const err of [
      await failureOf('SELECT * FROM no_such_table'),
      await failureOf('SELECT no_such_function()'),
      new TypeError("Cannot read properties of undefined (reading 'id')"),
      'a thrown string',
    ]) {
      const answer = toHttpError(err);
      expect(answer).toMatchObject({ status: 500, message: 'internal error', headers: {} });
    }
  });

  it('passes an HttpError through', () => {
    const refusal = new HttpError(413, 'body larger than 1 bytes');
    expect(toHttpError(refusal)).toBe(refusal);
  });
});

describe('POST /alertmanager when something behind it fails', () => {
  const config = parseFileConfig('test', 'slack:\n  defaultChannel: C0DEFAULT1\n');
  let db: TestDatabase;
  let pool: pg.Pool;
  let server: Server | undefined;
  const { logger, lines } = recordingLogger<{ level: number; msg: string; err?: { message: string } }>(
    'info',
  );

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url);
  });
  afterAll(async () => {
    await pool?.end();
    await db?.drop();
  });
  afterEach(async () => {
    lines.length = 0;
    await new Promise((resolve) => server?.close(resolve));
  });

  async function deliver(queue: Partial<Queue<SlackSyncJob>>, through: pg.Pool = pool) {
    server = createServer(
      alertmanagerRoute({
        pool: through,
        acceptor: new DeliveryAcceptor(through),
        queue: queue as Queue<SlackSyncJob>,
        stored: () => {},
        config,
        token: TOKEN,
        metrics: new Metrics(),
        logger,
      }),
    );
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return fetch(`http://127.0.0.1:${(server.address() as AddressInfo).port}/`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(payload({ group: 'Failing', alerts: [{ instance: 'pod-1' }] })),
    });
  }

  it('500 logged as an error, its message kept out of the answer, for a database without its tables', async () => {
    const res = await deliver({});
    expect(res.status).toBe(500);
    expect(res.headers.get('retry-after')).toBeNull();
    expect(await res.json()).toEqual({ error: 'internal error' });
    expect(lines).toMatchObject([
      {
        level: 50,
        msg: 'alertmanager webhook: internal error',
        err: { message: expect.stringMatching(/incidents/) },
      },
    ]);
  });

  it('400 logged as an error when the database refuses a value validation let through', async () => {
    const refused = Object.assign(new pg.DatabaseError('invalid input syntax for type json', 0, 'error'), {
      code: '22P02',
    });
    const failing = {
      connect: () => Promise.reject(refused),
      query: () => Promise.reject(refused),
    } as unknown as pg.Pool;
    const res = await deliver({}, failing);
    expect(res.status).toBe(400);
    expect(lines).toMatchObject([{ level: 50, err: { message: 'invalid input syntax for type json' } }]);
  });
});

/**
 * The route on a migrated database of its own through the describe's tests, on a port of its own: its pool
 * and URL, once started.
 */
function routeOnDatabase(configText: string, metrics = new Metrics()) {
  const config = parseFileConfig('test', configText);
  const started: { pool: pg.Pool; url: string; port: number; config: typeof config } = {
    config,
  } as typeof started;
  let db: TestDatabase;
  let server: Server;
  beforeAll(async () => {
    db = await createTestDatabase();
    started.pool = createPool(db.url);
    await migrate(started.pool);
    server = createServer(
      alertmanagerRoute({
        pool: started.pool,
        acceptor: new DeliveryAcceptor(started.pool),
        queue: { add: async () => undefined } as unknown as Queue<SlackSyncJob>,
        stored: () => {},
        config,
        token: TOKEN,
        metrics,
        logger: recordingLogger('info').logger,
      }),
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    started.port = (server.address() as AddressInfo).port;
    started.url = `http://127.0.0.1:${started.port}/`;
  });
  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await started.pool?.end();
    await db?.drop();
  });
  return started;
}

describe('POST /alertmanager: a body byte for byte one read before', () => {
  const route = routeOnDatabase('slack:\n  defaultChannel: C0DEFAULT1\nheartbeat:\n  alertname: Watchdog\n');
  let pool: pg.Pool;
  let url: string;
  let config: ReturnType<typeof parseFileConfig>;
  beforeAll(() => {
    ({ pool, url, config } = route);
  });
  beforeEach(() => pool.query('TRUNCATE alert_deliveries, incidents CASCADE'));

  /**
   * Sends `body` as it is: its answer, and what the route did with it, in order: `parse` (JSON.parse of its
   * text, as a body held whole is parsed) and the webhook's statements.
   */
  async function send(body: string) {
    const parse = vi.spyOn(JSON, 'parse');
    const query = vi.spyOn(pool, 'query');
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body,
      });
      // Each call's place in the order of all spies' calls.
      const steps = [
        ...parse.mock.calls.flatMap(([text], i) =>
          text === body ? [{ step: 'parse', at: parse.mock.invocationCallOrder[i]! }] : [],
        ),
        ...query.mock.calls.flatMap(([config], i) => {
          const { name } = config as { name?: string };
          return name ? [{ step: name, at: query.mock.invocationCallOrder[i]! }] : [];
        }),
      ];
      return {
        status: res.status,
        answer: await res.json(),
        steps: steps.sort((a, b) => a.at - b.at).map((s) => s.step),
      };
    } finally {
      parse.mockRestore();
      query.mockRestore();
    }
  }
  const storedPayloads = async (group: string) =>
    (
      await pool.query<{ payload: unknown }>(
        'SELECT payload FROM alert_deliveries WHERE group_key LIKE $1 ORDER BY id',
        [`%"${group}"%`],
      )
    ).rows.map((row) => row.payload);

  const heartbeatSeen = async () =>
    (await pool.query("SELECT last_seen_at > now() - interval '1 minute' AS fresh FROM heartbeats")).rows;

  it('is not parsed again to be known for a repeat', async () => {
    const body = JSON.stringify(payload({ group: 'Repeated', alerts: [{ instance: 'pod-1' }] }));
    expect(await send(body)).toEqual({
      status: 200,
      answer: { outcome: 'accepted', delivery: expect.any(Number) },
      steps: ['parse', 'deliveries-known', 'deliveries-store'],
    });
    await ingestNextDelivery(pool, config);
    const repeats = [await send(body), await send(body)];
    for (const repeat of repeats)
      expect(repeat).toEqual({
        status: 200,
        answer: { outcome: 'duplicate', incident: expect.stringMatching(/^INC-/) },
        steps: ['deliveries-known'],
      });
    expect(await storedPayloads('Repeated')).toHaveLength(1);
  });

  it('is refused again as it was, never known, when it could not be accepted', async () => {
    const bad = payload({ group: 'Refused', alerts: [{ instance: 'pod-1' }] });
    const body = JSON.stringify({ ...bad, alerts: [{ ...bad.alerts[0], startsAt: 'yesterday' }] });
    for (let i = 0; i < 2; i++)
      expect(await send(body)).toEqual({
        status: 400,
        answer: { error: expect.stringMatching(/^alerts\[0\]\.startsAt: /) },
        steps: ['parse'],
      });
    expect(await storedPayloads('Refused')).toEqual([]);
  });

  it('is parsed again only once it has to be stored, and stored as the first was', async () => {
    const body = JSON.stringify(payload({ group: 'Waiting', alerts: [{ instance: 'pod-1' }] }));
    await send(body);
    // The first waits to be ingested: the incident does not show it yet.
    expect(await send(body)).toMatchObject({
      status: 200,
      answer: { outcome: 'accepted' },
      steps: ['deliveries-known', 'parse', 'deliveries-store'],
    });
    const [first, second] = await storedPayloads('Waiting');
    expect(second).toEqual(first);
  });

  it('is parsed again each time it holds the heartbeat: each is a beat', async () => {
    const body = JSON.stringify(
      payload({ group: 'WithBeat', alerts: [{ instance: 'pod-1' }, { instance: 'am', name: 'Watchdog' }] }),
    );
    await send(body);
    await ingestNextDelivery(pool, config);
    await pool.query("UPDATE heartbeats SET last_seen_at = now() - interval '1 hour'");
    expect(await heartbeatSeen()).toEqual([{ fresh: false }]);
    expect(await send(body)).toMatchObject({
      status: 200,
      answer: { outcome: 'duplicate' },
      steps: ['parse', 'deliveries-known'],
    });
    expect(await heartbeatSeen()).toEqual([{ fresh: true }]);
  });
});

describe('POST /alertmanager: large notifications, read a share of memory at a time', () => {
  const metrics = new Metrics();
  const route = routeOnDatabase('slack: { defaultChannel: C0DEFAULT1 }', metrics);

  const waiting = async () => (await metrics.largeBodiesWaiting.get()).values[0]?.value ?? 0;
  /** A notification of 2 MiB: over what is held whole, so read as it comes, in a share of the budget. */
  const large = (group: string) =>
    JSON.stringify(
      payload({
        group,
        alerts: [{ instance: 'pod-1', annotations: { description: 'x'.repeat(2 * 1024 * 1024) } }],
      }),
    );
  /**
   * A POST whose first half is sent now and the rest when `finish` is called; `declared` false sends it
   * chunked (no length: counted as the largest a body may be).
   */
  const held = (body: string, { declared = true, token = TOKEN } = {}) => {
    const req = httpRequest({
      port: route.port,
      method: 'POST',
      headers: {
        authorization: `Bearer ${token}`,
        'content-type': 'application/json',
        ...(declared ? { 'content-length': Buffer.byteLength(body) } : {}),
      },
    });
    const answer = new Promise<number>((resolve, reject) => {
      req.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      req.on('error', reject);
    });
    req.write(body.slice(0, body.length / 2));
    return { answer, finish: () => req.end(body.slice(body.length / 2)) };
  };

  it('reads two of the largest at once: a third waits its turn, then is read and stored', async () => {
    // Chunked: each counted as 32 MiB, the two take the whole 64.
    const first = held(large('Large1'), { declared: false });
    const second = held(large('Large2'), { declared: false });
    const third = held(large('Large3'));
    third.finish();
    await waitFor(async () => (await waiting()) === 1, 10_000, 'one waiting its turn');
    first.finish();
    second.finish();
    expect(await Promise.all([first.answer, second.answer, third.answer])).toEqual([200, 200, 200]);
    expect(await waiting()).toBe(0);
  });

  it('keeps no stranger, nor a body too large to read, waiting for a turn: refused at once, while the budget is all taken', async () => {
    const first = held(large('Held1'), { declared: false });
    const second = held(large('Held2'), { declared: false });
    const third = held(large('Held3'));
    third.finish();
    await waitFor(async () => (await waiting()) === 1, 10_000, 'the budget all taken, one waiting');
    const stranger = held(large('Stranger'), { declared: false, token: 'wrong-token-123456' });
    expect(await stranger.answer).toBe(401);
    // Nor one declared too large to read at all: refused at once, a byte of it never read.
    const huge = httpRequest({
      port: route.port,
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-length': 300 * 1024 * 1024 },
    });
    const hugeAnswer = new Promise<number>((resolve, reject) => {
      huge.on('response', (res) => {
        res.resume();
        resolve(res.statusCode!);
      });
      huge.on('error', reject);
    });
    huge.flushHeaders();
    expect(await hugeAnswer).toBe(413);
    huge.destroy();
    expect(await waiting()).toBe(1);
    first.finish();
    second.finish();
    expect(await Promise.all([first.answer, second.answer, third.answer])).toEqual([200, 200, 200]);
    stranger.finish();
  });
});
