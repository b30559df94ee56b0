import pg from 'pg';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { acceptDeliveries, deliveryOf, ingestNextDelivery } from '../../src/alerts/deliveries.js';
import { DeliveryAcceptor } from '../../src/alerts/deliveryAcceptor.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { GROUP_CHANGES_CHANNEL, ShownDigests } from '../../src/alerts/shownDigests.js';
import { parseFileConfig } from '../../src/config/file.js';
import { hearChanges } from '../../src/db/changeNotifications.js';
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

  describe('the notifications', () => {
    const told = notificationsOn(() => pool, GROUP_CHANGES_CHANNEL);
    /** What `work` told of, each payload read. */
    const toldAfter = async (work: () => Promise<unknown>) =>
      (await told(work)).map((p) => JSON.parse(p) as unknown);
    const keyOf = (group: string) => notification(group).groupKey;

    it('tells of the groups of deliveries stored, one notification a statement', async () => {
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

    it('sends keys up to 1024 characters, in notifications that fit in 8,000 bytes, and not a longer one', async () => {
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
     * The listener's line through the proxy, its probes sent straight (or from `probes`). A probe waits 10 s
     * unless a test gives up on one sooner: a loaded machine's slow answer is no lost line.
     */
    const hear = ({
      probes = pool,
      probeWaitMs = 10_000,
    }: {
      probes?: pg.Pool;
      probeWaitMs?: number;
    } = {}) => {
      const proxied = new URL(url);
      proxied.host = `127.0.0.1:${proxy.port}`;
      const shown = new ShownDigests();
      const { logger, lines } = recordingLogger<{ level: number; msg: string }>('info');
      line = hearChanges({
        connectionString: proxied.toString(),
        probes,
        hearers: [shown],
        logger,
        probeWaitMs,
      });
      /** What it said of being no longer heard: nothing, in a test of what it hears. */
      const noLongerHeard = () => lines.filter((l) => l.msg.includes('no longer heard'));
      return { shown, lines, noLongerHeard };
    };
    /**
     * Resolves once `shown` has heard every change committed so far (they come in commit order): a marker's,
     * sent now, refuses a read begun before it.
     */
    const caughtUp = async (shown: ShownDigests) => {
      const since = shown.readBegins();
      await pool.query('SELECT pg_notify($1, $2)', [GROUP_CHANGES_CHANNEL, JSON.stringify(['(marker)'])]);
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
    /** The sessions of the test's database that are listening (their last statement a LISTEN). */
    const listeningPids = async () =>
      (
        await pool.query<{ pid: number }>(
          "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%' ORDER BY pid",
        )
      ).rows.map((row) => row.pid);
    const listening = async () => (await listeningPids()).length;
    /** Whether `shown` remembers what a read finds now, as it does only while changes are heard. */
    const remembers = (shown: ShownDigests) => {
      shown.found(shown.readBegins(), 'probe-of-the-test', 'x', 1);
      const remembered = shown.incidentShowing('probe-of-the-test', 'x') !== undefined;
      shown.forget('probe-of-the-test');
      return remembered;
    };

    it('remembers once a probe came back, and forgets a group as another process stores a delivery of it', async () => {
      const { shown, noLongerHeard } = hear();
      await waitFor(() => remembers(shown), 10_000, 'the line proved');
      const { delivery, incidentId } = await opened('Elsewhere');
      await caughtUp(shown);
      shown.found(shown.readBegins(), delivery.groupKey, delivery.digest, incidentId);
      expect(shown.incidentShowing(delivery.groupKey, delivery.digest)).toBe(incidentId);
      await acceptDeliveries(pool, [notification('Elsewhere', [{ instance: 'pod-2' }])]);
      await waitFor(() => shown.incidentShowing(delivery.groupKey, delivery.digest) === undefined, 5000);
      // Forgotten as it was told, not by a line lost: it still remembers.
      expect(remembers(shown)).toBe(true);
      expect(noLongerHeard()).toEqual([]);
    });

    it('forgets every group for a notification it cannot read, and only the strings of a list', async () => {
      const { shown, noLongerHeard } = hear();
      await waitFor(() => remembers(shown), 10_000, 'the line proved');
      const notify = (payload: string) =>
        pool.query('SELECT pg_notify($1, $2)', [GROUP_CHANGES_CHANNEL, payload]);
      for (const payload of ['not json', '{"groupKey":"g"}', '42']) {
        shown.found(shown.readBegins(), 'g', 'a', 1);
        await notify(payload);
        await waitFor(() => shown.incidentShowing('g', 'a') === undefined, 5000, `forgotten for ${payload}`);
      }
      shown.found(shown.readBegins(), 'g', 'a', 1);
      shown.found(shown.readBegins(), 'h', 'a', 2);
      // What an older version sent as its probe, here, while both run during a rolling deploy: no change.
      await notify('"a probe of an older version"');
      await notify('[7, null, "h"]');
      await waitFor(() => shown.incidentShowing('h', 'a') === undefined, 5000, 'h forgotten');
      expect(shown.incidentShowing('g', 'a')).toBe(1);
      // Still heard: a stray notification is no lost line.
      expect(remembers(shown)).toBe(true);
      expect(noLongerHeard()).toEqual([]);
    });

    it('forgets a group whose incident someone resolves: the repeat after is stored, and reopens it', async () => {
      const { shown, noLongerHeard } = hear();
      await waitFor(() => remembers(shown), 10_000, 'the line proved');
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

    it('refuses a channel LISTEN would fold to lower case, or one two hearers share', () => {
      const shown = new ShownDigests();
      const { logger } = recordingLogger('info');
      const folded = Object.assign(new ShownDigests(), { channel: 'Alert_Groups' });
      for (const hearers of [[folded], [shown, shown]])
        expect(() => hearChanges({ connectionString: url, probes: pool, hearers, logger })).toThrow(
          /not a lower-case name of its own/,
        );
    });

    it('never remembers when its probes do not come back (sent where it does not listen, as through a pooler)', async () => {
      // Notifications stay within their database: probes from another never reach this line.
      const other = await createTestDatabase();
      const elsewhere = new pg.Pool({ connectionString: other.url, max: 1 });
      try {
        const { shown, lines } = hear({ probes: elsewhere, probeWaitMs: 1000 });
        const told = () => lines.filter((l) => l.msg.startsWith('changes in PostgreSQL'));
        await waitFor(() => told().length > 0, 10_000, 'a probe given up on');
        expect(remembers(shown)).toBe(false);
        expect(told()).toEqual([
          expect.objectContaining({
            level: 40,
            msg: expect.stringContaining('cannot be heard ('),
          }),
        ]);
      } finally {
        await line?.stop();
        await elsewhere.end();
        await other.drop();
      }
    });

    it.each([
      { fault: 'cut' as const, told: 'the connection' },
      // No reset: only the probe not coming back tells.
      { fault: 'silence' as const, told: 'a probe did not come back' },
    ])(
      'forgets everything when the line is $fault, remembers nothing while it is down, and listens again once it is back',
      async ({ fault, told }) => {
        const { shown, lines } = hear({ probeWaitMs: 1000 });
        await waitFor(() => remembers(shown), 10_000, 'the line proved');
        shown.found(shown.readBegins(), 'g', 'a', 1);
        proxy[fault]();
        await waitFor(() => shown.incidentShowing('g', 'a') === undefined, 10_000, 'forgotten');
        expect(remembers(shown)).toBe(false);
        expect(lines).toContainEqual(
          expect.objectContaining({ level: 40, msg: expect.stringContaining(`no longer heard (${told}`) }),
        );
        proxy.restore();
        await waitFor(() => remembers(shown), 30_000, 'the line proved again');
        // The lost line's session is gone, whether it saw the end or not.
        await waitFor(async () => (await listening()) === 1, 5000, 'one listening session');
      },
    );

    it.each([
      { when: 'open', fault: () => {} },
      { when: 'silent', fault: () => proxy.silenceOpen() },
    ])('closes its line when stopped, $when, and remembers nothing after', async ({ fault }) => {
      const { shown } = hear();
      await waitFor(() => remembers(shown), 10_000, 'the line proved');
      fault();
      await line!.stop();
      expect(remembers(shown)).toBe(false);
      await waitFor(async () => (await listening()) === 0, 5000, 'the listening session gone');
    });

    it('keeps its line when a probe cannot be sent, remembering nothing until one comes back', async () => {
      const probes = new pg.Pool({ connectionString: url, max: 1 });
      const { shown, noLongerHeard } = hear({ probes });
      await waitFor(() => remembers(shown), 10_000, 'the line proved');
      const sessions = await listeningPids();
      await probes.end();
      await waitFor(() => noLongerHeard().length > 0, 10_000, 'a probe not sent');
      expect(noLongerHeard()[0]!.msg).toContain('(a probe could not be sent)');
      expect(remembers(shown)).toBe(false);
      // Not a lost line: the same session listens on, no other opened.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      expect(await listeningPids()).toEqual(sessions);
    });

    it('waits, as it stops, for the session of a line it lost to be ended', async () => {
      // Its own probes' pool, ended as soon as it has stopped, as the bot's pools are.
      const probes = new pg.Pool({ connectionString: url, max: 1 });
      const { shown, noLongerHeard } = hear({ probes, probeWaitMs: 1000 });
      await waitFor(() => remembers(shown), 10_000, 'the line proved');
      proxy.silenceOpen();
      await waitFor(() => noLongerHeard().length > 0, 10_000, 'the line lost');
      await line!.stop();
      await probes.end();
      await waitFor(async () => (await listening()) === 0, 5000, 'the lost line’s session gone');
    });
  });
});
