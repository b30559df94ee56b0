import pg from 'pg';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acceptDeliveries, deliveryOf, ingestNextDelivery } from '../../src/alerts/deliveries.js';
import { DeliveryAcceptor } from '../../src/alerts/deliveryAcceptor.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { GROUP_CHANGES_CHANNEL, ShownDigests } from '../../src/alerts/shownDigests.js';
import { parseFileConfig } from '../../src/config/file.js';
import { hearChanges } from '../../src/db/changes.js';
import type { Pool } from '../../src/db/pool.js';
import { resolveIncident } from '../../src/incidents/lifecycle.js';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { migratedDatabase } from '../support/database.js';
import { recordingEffects } from '../support/incidents.js';
import { recordingLogger } from '../support/logLines.js';
import { notificationsOn } from '../support/notifications.js';
import { createTestDatabase, waitFor } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';

const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');

describe('alert group changes: what PostgreSQL tells every serving process', () => {
  const database = migratedDatabase(10);
  let pool: Pool;
  let url: string;
  beforeAll(() => {
    pool = database();
    url = pool.options.connectionString!;
  });
  beforeEach(async () => {
    await pool.query('TRUNCATE alert_deliveries, incidents CASCADE');
  });

  const notification = (group: string, alerts: AlertSpec[] = [{ instance: 'pod-1' }]) =>
    deliveryOf(WebhookPayloadSchema.parse(payload({ group, alerts })));
  /** An incident open for the group, showing its notification (of `alerts`). */
  const opened = async (group: string, alerts?: AlertSpec[]) => {
    const delivery = notification(group, alerts);
    await acceptDeliveries(pool, [delivery]);
    const ingested = await ingestNextDelivery(pool, config);
    if (ingested?.outcome !== 'ingested') throw new Error(`${group} was not ingested`);
    return { delivery, incidentId: ingested.result.incident!.id };
  };

  describe('the changes written', () => {
    const told = notificationsOn(() => pool, GROUP_CHANGES_CHANNEL);
    /** What `work` told of, each payload read. */
    const toldAfter = async (work: () => Promise<unknown>) =>
      (await told(work)).map((p) => JSON.parse(p) as unknown);
    const keyOf = (group: string) => notification(group).groupKey;

    it('writes them as rows, sending no NOTIFY (whose commits take turns behind one lock)', async () => {
      const listener = new pg.Client({ connectionString: url });
      const heard: string[] = [];
      listener.on('notification', (message) => heard.push(message.channel));
      await listener.connect();
      try {
        await listener.query(`LISTEN ${GROUP_CHANGES_CHANNEL}`);
        expect(await told(() => acceptDeliveries(pool, [notification('A')]))).toHaveLength(1);
        await listener.query('SELECT 1');
        expect(heard).toEqual([]);
      } finally {
        await listener.end();
      }
    });

    it('tells of the groups of deliveries stored, one change a statement', async () => {
      const told = await toldAfter(() => acceptDeliveries(pool, [notification('A'), notification('B')]));
      expect(told).toEqual([expect.arrayContaining([keyOf('A'), keyOf('B')])]);
      expect((told[0] as string[]).length).toBe(2);
    });

    it('tells of an open incident made to show another notification, resolved by hand, or deleted', async () => {
      const { incidentId } = await opened('Changing');
      await acceptDeliveries(pool, [
        notification('Changing', [{ instance: 'pod-1' }, { instance: 'pod-2' }]),
      ]);
      expect(await toldAfter(() => ingestNextDelivery(pool, config))).toEqual([[keyOf('Changing')]]);
      expect(
        await toldAfter(() =>
          resolveIncident({ pool, config, effects: recordingEffects() }, incidentId, 'Fixed', 'U0ALICE'),
        ),
      ).toEqual([[keyOf('Changing')]]);
      await opened('Deleted');
      expect(await toldAfter(() => pool.query("DELETE FROM incidents WHERE state = 'open'"))).toEqual([
        [keyOf('Deleted')],
      ]);
    });

    it('tells of no other change of an incident, and of every group when the table is emptied', async () => {
      const { incidentId } = await opened('Quiet');
      expect(
        await toldAfter(() =>
          pool.query(
            "UPDATE incidents SET acknowledged_by = 'U0ALICE', version = version + 1 WHERE id = $1",
            [incidentId],
          ),
        ),
      ).toEqual([]);
      expect(await toldAfter(() => pool.query('TRUNCATE alert_deliveries, incidents CASCADE'))).toEqual([
        null,
      ]);
    });

    it('writes keys up to 1024 characters, in payloads under 8,000 bytes, and not a longer one', async () => {
      const rows = Array.from({ length: 40 }, (_, i) => `${String(i).padStart(2, '0')}${'é"\n'.repeat(340)}`);
      const payloads = await told(() =>
        pool.query(
          'INSERT INTO alert_deliveries (group_key) SELECT unnest($1::text[]) UNION ALL SELECT repeat($2, 1025)',
          [rows, 'x'],
        ),
      );
      expect(payloads.length).toBeGreaterThan(1);
      expect(payloads.flatMap((p) => JSON.parse(p) as string[]).sort()).toEqual([...rows].sort());
      for (const p of payloads) expect(Buffer.byteLength(p)).toBeLessThan(8000);
    });
  });

  describe('hearing them', () => {
    let proxy: TcpProxy;
    let line: { stop(): Promise<void> } | undefined;
    beforeEach(async () => {
      const direct = new URL(url);
      proxy = await startTcpProxy(direct.hostname, Number(direct.port));
    });
    afterEach(async () => {
      await line?.stop();
      line = undefined;
      await proxy.close();
    });

    /**
     * The reads of `changes` through the proxy. A read waits 10 s unless a test gives up on one sooner: a
     * loaded machine's slow answer is no failed read.
     */
    const hear = ({
      pollWaitMs = 10_000,
      pollEveryMs,
      keepMs,
    }: {
      pollWaitMs?: number;
      pollEveryMs?: number;
      keepMs?: number;
    } = {}) => {
      const proxied = new URL(url);
      proxied.host = `127.0.0.1:${proxy.port}`;
      const shown = new ShownDigests();
      const { logger, lines } = recordingLogger<{ level: number; msg: string }>('info');
      line = hearChanges({
        connectionString: proxied.toString(),
        hearers: [shown],
        logger,
        pollWaitMs,
        ...(pollEveryMs ? { pollEveryMs } : {}),
        ...(keepMs ? { keepMs } : {}),
      });
      /** What it said of being no longer heard: nothing, in a test of what it hears. */
      const noLongerHeard = () => lines.filter((l) => l.msg.includes('no longer heard'));
      return { shown, lines, noLongerHeard };
    };
    const tell = (payload: string) =>
      pool.query('SELECT tell_change($1, $2)', [GROUP_CHANGES_CHANNEL, payload]);
    /**
     * Resolves once `shown` has heard every change committed so far: a marker's, written now, refuses a
     * read begun before it.
     */
    const caughtUp = async (shown: ShownDigests) => {
      const since = shown.readBegins();
      await tell(JSON.stringify(['(marker)']));
      await waitFor(
        () => {
          shown.found(since, '(marker)', 'x', 1);
          const heard = shown.incidentShowing('(marker)', 'x') === undefined;
          shown.forget('(marker)');
          return heard;
        },
        5000,
        'the marker heard',
      );
    };
    /** A session of the test's database, not this one, whose last statement was one of hearChanges'. */
    const HEARING = `datname = current_database() AND pid <> pg_backend_pid()
      AND (query LIKE 'SELECT pg\\_current\\_snapshot()%' OR query LIKE 'DELETE FROM changes WHERE ctid%'
           OR query LIKE 'SELECT count(*)::int AS sessions FROM pg\\_stat\\_activity%')`;
    const reading = async () =>
      (await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_stat_activity WHERE ${HEARING}`))
        .rows[0]!.n;
    /** Whether `shown` remembers what a read finds now, as it does only while changes are heard. */
    const remembers = (shown: ShownDigests) => {
      shown.found(shown.readBegins(), 'probe-of-the-test', 'x', 1);
      const remembered = shown.incidentShowing('probe-of-the-test', 'x') !== undefined;
      shown.forget('probe-of-the-test');
      return remembered;
    };

    it('remembers once changes are read, and forgets a group as another process stores a delivery of it', async () => {
      const { shown, noLongerHeard } = hear();
      await waitFor(() => remembers(shown), 10_000, 'changes read');
      const { delivery, incidentId } = await opened('Elsewhere');
      await caughtUp(shown);
      shown.found(shown.readBegins(), delivery.groupKey, delivery.digest, incidentId);
      expect(shown.incidentShowing(delivery.groupKey, delivery.digest)).toBe(incidentId);
      await acceptDeliveries(pool, [notification('Elsewhere', [{ instance: 'pod-2' }])]);
      await waitFor(() => shown.incidentShowing(delivery.groupKey, delivery.digest) === undefined, 5000);
      // Forgotten as it was told, not by a read failed: it still remembers.
      expect(remembers(shown)).toBe(true);
      expect(noLongerHeard()).toEqual([]);
    });

    it('hears a change whose transaction began before a read and commits after it, told once', async () => {
      const { shown } = hear();
      await waitFor(() => remembers(shown), 10_000, 'changes read');
      const late = await pool.connect();
      try {
        await late.query('BEGIN');
        await late.query('SELECT tell_change($1, \'["late"]\')', [GROUP_CHANGES_CHANNEL]);
        // Reads go on while it is open: ones that began after it, and their changes, are heard first.
        await caughtUp(shown);
        shown.found(shown.readBegins(), 'late', 'a', 1);
        await caughtUp(shown);
        expect(shown.incidentShowing('late', 'a')).toBe(1);
        await late.query('COMMIT');
      } finally {
        late.release();
      }
      await waitFor(() => shown.incidentShowing('late', 'a') === undefined, 5000, 'the late change heard');
      // Read again while an older transaction runs, a change is not told again.
      const older = await pool.connect();
      try {
        await older.query('BEGIN');
        await older.query('SELECT pg_current_xact_id()');
        await tell('["again"]');
        await caughtUp(shown);
        shown.found(shown.readBegins(), 'again', 'a', 1);
        await caughtUp(shown);
        await caughtUp(shown);
        expect(shown.incidentShowing('again', 'a')).toBe(1);
      } finally {
        await older.query('COMMIT');
        older.release();
      }
    });

    it('forgets every group for a change it cannot read, and only the strings of a list', async () => {
      const { shown, noLongerHeard } = hear();
      await waitFor(() => remembers(shown), 10_000, 'changes read');
      for (const payload of ['not json', '{"groupKey":"g"}', '42', '"a string"']) {
        shown.found(shown.readBegins(), 'g', 'a', 1);
        await tell(payload);
        await waitFor(() => shown.incidentShowing('g', 'a') === undefined, 5000, `forgotten for ${payload}`);
      }
      shown.found(shown.readBegins(), 'g', 'a', 1);
      shown.found(shown.readBegins(), 'h', 'a', 2);
      await tell('[7, null, "h"]');
      await waitFor(() => shown.incidentShowing('h', 'a') === undefined, 5000, 'h forgotten');
      expect(shown.incidentShowing('g', 'a')).toBe(1);
      // Still heard: a stray change is no failed read.
      expect(remembers(shown)).toBe(true);
      expect(noLongerHeard()).toEqual([]);
    });

    it('forgets a group whose incident someone resolves: the repeat after is stored, and reopens it', async () => {
      const { shown, noLongerHeard } = hear();
      await waitFor(() => remembers(shown), 10_000, 'changes read');
      const acceptor = new DeliveryAcceptor(pool, { shown });
      const { delivery, incidentId } = await opened('ByHand');
      await caughtUp(shown);
      await expect(acceptor.accept(delivery, 1000)).resolves.toMatchObject({ outcome: 'duplicate' });
      expect(shown.incidentShowing(delivery.groupKey, delivery.digest)).toBe(incidentId);
      await resolveIncident({ pool, config, effects: recordingEffects() }, incidentId, 'Fixed', 'U0ALICE');
      await waitFor(() => shown.incidentShowing(delivery.groupKey, delivery.digest) === undefined, 5000);
      expect(noLongerHeard()).toEqual([]);
      await expect(acceptor.accept(delivery, 1000)).resolves.toMatchObject({ outcome: 'accepted' });
      expect(await ingestNextDelivery(pool, config)).toMatchObject({
        result: { outcome: 'reopened', incident: { id: incidentId } },
      });
    });

    it('refuses a channel two hearers share', () => {
      const shown = new ShownDigests();
      const { logger } = recordingLogger('info');
      expect(() => hearChanges({ connectionString: url, hearers: [shown, shown], logger })).toThrow(
        /is not one of its own/,
      );
    });

    it('never remembers while its reads fail (a database without the table)', async () => {
      const other = await createTestDatabase();
      try {
        const shown = new ShownDigests();
        const { logger, lines } = recordingLogger<{ level: number; msg: string }>('info');
        line = hearChanges({ connectionString: other.url, hearers: [shown], logger });
        const told = () => lines.filter((l) => l.msg.startsWith('changes in PostgreSQL'));
        await waitFor(() => told().length > 0, 10_000, 'a read failed');
        expect(remembers(shown)).toBe(false);
        expect(told()).toEqual([
          expect.objectContaining({
            level: 40,
            msg: expect.stringContaining('cannot be heard (a read failed)'),
          }),
        ]);
        await line.stop();
        line = undefined;
      } finally {
        await other.drop();
      }
    });

    it.each([
      { fault: 'cut' as const, told: 'a read failed' },
      // No reset: only the read not coming back tells.
      { fault: 'silence' as const, told: 'a read did not come back' },
    ])(
      'forgets everything when the connection is $fault, remembers nothing while it is down, and reads again once it is back',
      async ({ fault, told }) => {
        const { shown, lines } = hear({ pollWaitMs: 1000 });
        await waitFor(() => remembers(shown), 10_000, 'changes read');
        shown.found(shown.readBegins(), 'g', 'a', 1);
        proxy[fault]();
        await waitFor(() => shown.incidentShowing('g', 'a') === undefined, 10_000, 'forgotten');
        expect(remembers(shown)).toBe(false);
        expect(lines).toContainEqual(
          expect.objectContaining({ level: 40, msg: expect.stringContaining(`no longer heard (${told}`) }),
        );
        proxy.restore();
        await waitFor(() => remembers(shown), 30_000, 'changes read again');
        // The session of a connection given up on is gone, whether it saw the end or not.
        await waitFor(async () => (await reading()) === 1, 5000, 'one reading session');
      },
    );

    it('forgets everything when its reads went unanswered longer than rows are kept for, though one came back', async () => {
      const { shown, lines } = hear({ keepMs: 2000 });
      await waitFor(() => remembers(shown), 10_000, 'changes read');
      shown.found(shown.readBegins(), 'g', 'a', 1);
      proxy.silence();
      await new Promise((resolve) => setTimeout(resolve, 1500));
      proxy.restore();
      await waitFor(() => shown.incidentShowing('g', 'a') === undefined, 10_000, 'forgotten');
      expect(lines).toContainEqual(
        expect.objectContaining({ msg: expect.stringContaining('went unread for') }),
      );
      await waitFor(() => remembers(shown), 10_000, 'changes heard again');
    });

    it('deletes the rows every process has read, once they are older than it keeps them for', async () => {
      const { shown } = hear({ keepMs: 1200 });
      await waitFor(() => remembers(shown), 10_000, 'changes read');
      await tell('["old"]');
      await caughtUp(shown);
      const rows = async () =>
        (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM changes')).rows[0]!.n;
      expect(await rows()).toBeGreaterThan(0);
      // The oldest transaction running on the server bounds what goes: another test's may hold it back.
      await waitFor(async () => (await rows()) === 0, 30_000, 'the rows deleted');
    });

    it('warns of sessions of an older version listening for NOTIFYs, which no longer come', async () => {
      const older = await Promise.all(
        // As versions before migration 041 listened: their probes' channel first, or (earlier) alone.
        [
          `LISTEN incident_bot_probes; LISTEN ${GROUP_CHANGES_CHANNEL}`,
          `LISTEN ${GROUP_CHANGES_CHANNEL}`,
        ].map(async (listen) => {
          const client = new pg.Client({ connectionString: url });
          await client.connect();
          await client.query(listen);
          return client;
        }),
      );
      try {
        const { shown, lines } = hear();
        await waitFor(() => remembers(shown), 10_000, 'changes read');
        await waitFor(
          () => lines.some((l) => l.msg.startsWith('2 session(s) of a version before migration 041')),
          5000,
          'the warning',
        );
      } finally {
        await Promise.all(older.map((client) => client.end()));
      }
    });

    it('forgets everything when its connection is made again between reads', async () => {
      // Reads a second apart: the session is ended while it waits, not while it reads.
      const { shown, lines } = hear({ pollEveryMs: 1000 });
      await waitFor(() => remembers(shown), 10_000, 'changes read');
      shown.found(shown.readBegins(), 'g', 'a', 1);
      // Ended between reads, as a failover ends every session: the next read connects again. Tried until
      // it is found idle (not amid a statement).
      await waitFor(
        async () =>
          (
            await pool.query<{ ended: number }>(
              // OFFSET 0: the sessions are chosen before any is ended (never this one).
              `SELECT count(*)::int AS ended FROM (
                 SELECT pid FROM pg_stat_activity WHERE state = 'idle' AND ${HEARING} OFFSET 0) idle
                WHERE pg_terminate_backend(pid)`,
            )
          ).rows[0]!.ended === 1,
        5000,
        'the reading session ended',
      );
      await waitFor(() => shown.incidentShowing('g', 'a') === undefined, 10_000, 'forgotten');
      expect(lines).toContainEqual(
        expect.objectContaining({ msg: expect.stringContaining('on a connection made again') }),
      );
      await waitFor(() => remembers(shown), 10_000, 'changes heard again');
    });

    it.each([
      { when: 'open', fault: () => {} },
      { when: 'silent', fault: () => proxy.silenceOpen() },
    ])('closes its connection when stopped, $when, and remembers nothing after', async ({ fault }) => {
      const { shown } = hear({ pollWaitMs: 1000 });
      await waitFor(() => remembers(shown), 10_000, 'changes read');
      fault();
      await line!.stop();
      line = undefined;
      expect(remembers(shown)).toBe(false);
      await waitFor(async () => (await reading()) === 0, 5000, 'the reading session gone');
    });
  });
});
