import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { acceptDeliveries } from '../../src/alerts/deliveries.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { migrate } from '../../src/db/migrate.js';
import {
  CONNECTION_TIMEOUT_MS,
  clientsInTurn,
  createPool,
  isDatabaseUnreachable,
} from '../../src/db/pool.js';
import { payload } from '../support/alertmanager.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';
import { type ProxiedDatabase, proxiedDatabase } from '../support/tcpProxy.js';

/**
 * A pool's clients taken in turn (the silences' pool): waiting for a busy client is not a database that
 * is down, and a database that is down is still found out fast.
 */
describe('clientsInTurn', () => {
  let db: ProxiedDatabase;
  beforeAll(async () => {
    db = await proxiedDatabase();
  });
  afterAll(() => db.close());

  it('lets a caller behind busy clients wait past the connection timeout, up to its own wait', async () => {
    const pool = createPool(db.proxiedUrl, 2);
    try {
      const turns = clientsInTurn(pool, 10_000);
      const busy = await Promise.all([turns.connect(), turns.connect()]);
      const waiting = turns.connect();
      await new Promise((r) => setTimeout(r, CONNECTION_TIMEOUT_MS * 1.5));
      busy[0]!.release();
      // pg-pool alone gives up on it after CONNECTION_TIMEOUT_MS, as if the database were down.
      const client = await waiting;
      expect((await client.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
      client.release();
      busy[1]!.release();

      const impatient = clientsInTurn(pool, 200);
      const both = await Promise.all([impatient.connect(), impatient.connect()]);
      await expect(impatient.connect()).rejects.toThrow('all 2 clients of the pool stayed busy for 200 ms');
      for (const c of both) c.release();
    } finally {
      await pool.end();
    }
  });

  it('fails every caller waiting once a connection cannot be opened: the database is not answering', async () => {
    const pool = createPool(db.proxiedUrl, 2);
    const turns = clientsInTurn(pool, 30_000);
    try {
      // New connections get no answer: each attempt gives up after CONNECTION_TIMEOUT_MS.
      db.proxy.silence();
      const started = Date.now();
      const outcomes = await Promise.allSettled(Array.from({ length: 10 }, () => turns.connect()));
      const elapsed = Date.now() - started;
      expect(outcomes.every((o) => o.status === 'rejected' && isDatabaseUnreachable(o.reason))).toBe(true);
      // Not one attempt after another, 2 at a time: the last would hear it after 5 timeouts.
      expect(elapsed).toBeLessThan(CONNECTION_TIMEOUT_MS * 2);
    } finally {
      db.proxy.restore();
      await pool.end();
    }
  });
});

/**
 * A prepared statement's plan, on a pool's connection: one made while a table was small (a quiet spell,
 * a fresh connection) must not outlive it once a storm fills the table.
 */
describe('createPool: plans made for the table as it is', () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it('plans each execution of a prepared statement for its parameters and the table as it now is', async () => {
    const pool = createPool(db.url, 1);
    try {
      await migrate(pool);
      // The webhook's statement, prepared and run on this one connection while the table is small,
      for (let i = 0; i < 10; i++)
        await acceptDeliveries(pool, [
          WebhookPayloadSchema.parse(payload({ group: `Small${i}`, alerts: [{ instance: 'a' }] })),
        ]);
      // then a storm's open incidents and its deliveries, before autovacuum's ANALYZE (which would drop
      // the plans made so far).
      await pool.query(
        `INSERT INTO incidents (title, severity, group_key, channel_id)
         SELECT 'Storm', 'P2', 'group-' || n, 'C0STORM' FROM generate_series(1, 20000) n`,
      );
      await pool.query(
        `INSERT INTO alert_deliveries (group_key, payload, processed_at, outcome)
         SELECT 'group-' || (n % 20000), NULL, now(), 'updated' FROM generate_series(1, 100000) n`,
      );
      // A full batch of them.
      const groups = Array.from({ length: 64 }, (_, n) => `"group-${n + 1}"`).join(',');
      const { rows } = await pool.query(
        `EXPLAIN EXECUTE "deliveries-known" ('{${groups}}', array_fill('digest'::text, ARRAY[64]))`,
      );
      const plan = rows.map((r: { 'QUERY PLAN': string }) => r['QUERY PLAN']).join('\n');
      // The group's open incident by the unique index on open groups, not by scanning every open one.
      expect(plan).toMatch(/incidents_open_group_key/);
      expect(plan).not.toMatch(/Seq Scan/);
    } finally {
      await pool.end();
    }
  });
});
