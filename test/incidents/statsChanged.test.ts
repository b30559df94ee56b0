import { beforeAll, describe, expect, it, vi } from 'vitest';
import { ingestDelivery } from '../../src/alerts/ingest.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { keptStats } from '../../src/commands/incidentHandlers.js';
import { parseFileConfig } from '../../src/config/file.js';
import { inTransaction, type Pool } from '../../src/db/pool.js';
import { INCIDENT_STATS_CHANNEL, incidentStats } from '../../src/incidents/incidentStats.js';
import { DAY_MS } from '../../src/primitives/duration.js';
import { TemplateSet } from '../../src/render/templates.js';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { countingPool } from '../support/countingPool.js';
import {
  incidentColumnChanges,
  incidentCommandsOn,
  lifecycleOnEmptiedDatabase,
} from '../support/incidents.js';
import { lineUnderTest, notificationsOn, statementOn } from '../support/notifications.js';
import { waitFor } from '../support/services.js';

/**
 * /incident stats is answered from memory, for each period, in every serving process, while nothing it
 * counts or names has changed (PostgreSQL tells each of a change as it commits: migrations/028) and until
 * the first incident of the period leaves it as time passes.
 */
describe('the incident stats: what PostgreSQL tells every serving process', () => {
  const lifecycle = lifecycleOnEmptiedDatabase();
  let pool: Pool;
  beforeAll(() => {
    pool = lifecycle().pool;
  });

  /** An alert-born incident, acknowledged, opened `ago` (an interval) with its opening alert. */
  const opened = async (title: string, ago = '1 hour') => {
    const { rows } = await pool.query<{ id: number }>(
      `INSERT INTO incidents (title, severity, channel_id, group_key, created_at, opened_at, acknowledged_at,
                             acknowledged_by)
       SELECT $1, 'P2', 'C0OPS', $1, t, t, t + interval '2 minutes', 'U0BOB' FROM (SELECT now() - $2::interval AS t) o
       RETURNING id::int`,
      [title, ago],
    );
    await alert(rows[0]!.id, 'HighLatency', 'opening')();
    return rows[0]!.id;
  };
  /** An alert of the incident: the one that opened it (first seen as it was created), or one later. */
  const alert = (id: number, alertname: string, when: 'opening' | 'later') => () =>
    pool.query(
      `INSERT INTO alerts (incident_id, fingerprint, status, alertname, severity, labels, annotations,
                           starts_at, first_seen_at)
       SELECT id, md5(random()::text), 'firing', $2, severity, '{}', '{}', created_at,
              created_at + CASE WHEN $3 THEN interval '0' ELSE interval '5 minutes' END
         FROM incidents WHERE id = $1`,
      [id, alertname, when === 'opening'],
    );

  describe('the notifications', () => {
    const notified = notificationsOn(() => pool, INCIDENT_STATS_CHANNEL);
    const told = async (work: () => Promise<unknown>) => (await notified(work)).length > 0;
    const sql = statementOn(() => pool);

    it('tells of every change of an incident that the stats show, whatever the column, and not of the busiest', async () => {
      const id = await opened('Checkout errors');
      // What the stats read, for a period that takes in every incident.
      const since = new Date(Date.now() - 90 * DAY_MS);
      const shown = async () => JSON.stringify(await incidentStats(pool, since));
      const showing: string[] = [];
      for (const { column, type, to } of await incidentColumnChanges(pool)) {
        expect(to, `a change of ${column} (${type})`).toBeDefined();
        const before = await shown();
        const wasTold = await told(sql(`UPDATE incidents SET ${column} = ${to} WHERE id = $1`, [id]));
        if ((await shown()) !== before) {
          showing.push(column);
          expect(wasTold, `a change of ${column}, which the stats show`).toBe(true);
        }
      }
      // The sweep saw the stats change: it can fail.
      expect(showing).toEqual(
        expect.arrayContaining(['title', 'severity', 'opened_at', 'acknowledged_at', 'created_at', 'state']),
      );
      // What an ingest and the Slack sync write most tells nothing.
      for (const change of [
        "root_ts = '1700000000.000100'",
        'root_version = root_version + 1',
        'version = version + 1',
        "last_delivery_digest = 'd2'",
        'updated_at = now()',
        `common_labels = '{"team": "payments"}'`,
        "status = 'monitoring'",
      ])
        expect(await told(sql(`UPDATE incidents SET ${change} WHERE id = $1`, [id])), change).toBe(false);
      expect(await told(() => opened('Search is slow'))).toBe(true);
      expect(await told(sql('DELETE FROM incidents WHERE id = $1', [id]))).toBe(true);
      expect(await told(sql('TRUNCATE incidents CASCADE'))).toBe(true);
    });

    it('tells of an incident an ingest opens or resolves, and not of the alerts that join it or resolve before it', async () => {
      const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');
      const deliver = (alerts: AlertSpec[]) => () =>
        inTransaction(pool, (db) =>
          ingestDelivery(db, config, WebhookPayloadSchema.parse(payload({ group: 'Stats', alerts }))),
        );
      expect(await told(deliver([{ instance: 'a' }]))).toBe(true);
      expect(await told(deliver([{ instance: 'a' }, { instance: 'b' }]))).toBe(false);
      expect(await told(deliver([{ instance: 'a', status: 'resolved' }, { instance: 'b' }]))).toBe(false);
      expect(
        await told(
          deliver([
            { instance: 'a', status: 'resolved' },
            { instance: 'b', status: 'resolved' },
          ]),
        ),
      ).toBe(true);
    });

    it('tells of an alert that opened an incident added, renamed or taken, and of no later one', async () => {
      const id = await opened('Checkout errors');
      expect(await told(alert(id, 'PodRestarting', 'later'))).toBe(false);
      expect(await told(alert(id, 'DiskFull', 'opening'))).toBe(true);
      expect(
        await told(sql("UPDATE alerts SET status = 'resolved', ends_at = now(), updated_at = now()")),
      ).toBe(false);
      expect(await told(sql("DELETE FROM alerts WHERE alertname = 'PodRestarting'"))).toBe(false);
      expect(
        await told(sql("UPDATE alerts SET alertname = 'DiskAlmostFull' WHERE alertname = 'DiskFull'")),
      ).toBe(true);
      expect(await told(sql("DELETE FROM alerts WHERE alertname = 'DiskAlmostFull'"))).toBe(true);
      // No longer first seen as its incident was created: it no longer opened it.
      expect(
        await told(
          sql(
            "UPDATE alerts SET first_seen_at = first_seen_at + interval '1 minute' WHERE alertname = 'HighLatency'",
          ),
        ),
      ).toBe(true);
      expect(await told(sql('TRUNCATE alerts'))).toBe(true);
    });
  });

  describe('/incident stats, answered from memory', () => {
    const line = lineUnderTest(() => pool);

    /** /incident stats as the bot answers it, and whether each answer was read from PostgreSQL. */
    const statsAsked = async () => {
      const { pool: counting, sent } = countingPool(pool);
      const stats = keptStats();
      const templates = await TemplateSet.load();
      const run = incidentCommandsOn(lifecycle(), counting, templates, { stats });
      const asked = async (period: string) => {
        const before = sent.length;
        const shown = await run(`stats ${period}`);
        return { shown, read: sent.length > before };
      };
      return { stats, asked, templates };
    };

    it('reads each period once while nothing it shows changes, again after a change, and once an incident leaves it', async () => {
      const { stats, asked } = await statsAsked();
      // About to leave the last 7 days, but not the last 30.
      await opened('Checkout errors', '7 days - 2 seconds');
      expect((await asked('7d')).read).toBe(true);
      line.start(stats);
      await waitFor(async () => (await asked('30d')).read === false, 10_000, 'stats answered from memory');
      const week = await asked('7d');
      expect(week.shown).toContain('Incidents in the last 7 days: 1');
      // Read again by the time the incident leaves the period (about 2 s), with nothing told.
      await line.caughtUp();
      await waitFor(
        async () => (await asked('7d')).shown.includes('Incidents in the last 7 days: 0'),
        10_000,
        'the incident gone from the last 7 days',
      );
      expect(await asked('7d')).toMatchObject({ read: false });
      expect(await asked('30d')).toMatchObject({
        shown: expect.stringContaining('Incidents in the last 30 days: 1'),
        read: false,
      });

      // A change from another process, straight into the table (two: the incident, then its alert).
      await opened('Search is slow');
      await line.caughtUp();
      expect(await asked('30d')).toMatchObject({
        shown: expect.stringContaining('Incidents in the last 30 days: 2'),
        read: true,
      });
      expect(await asked('30d')).toMatchObject({ read: false });
      // A change the stats do not show leaves them in memory.
      await pool.query("UPDATE incidents SET root_ts = '1700000000.000100'");
      await line.caughtUp();
      expect(await asked('30d')).toMatchObject({ read: false });

      await line.stop();
      expect((await asked('30d')).read).toBe(true);
      expect((await asked('30d')).read).toBe(true);
    });

    it('renders an answer from memory once a second, its times counted from that second', async () => {
      const { stats, asked, templates } = await statsAsked();
      await opened('Checkout errors', '30 seconds');
      line.start(stats);
      await waitFor(async () => (await asked('7d')).read === false, 10_000, 'stats answered from memory');
      // A second no answer was rendered for yet.
      const second = Math.floor(Date.now() / 1000) * 1000 + 1000;
      const at = (ms: number) => vi.spyOn(Date, 'now').mockReturnValue(second + ms);
      const rendered = vi.spyOn(templates, 'renderMessage');
      try {
        at(100);
        const first = (await asked('7d')).shown;
        at(900);
        expect(await asked('7d')).toEqual({ shown: first, read: false });
        expect(rendered).toHaveBeenCalledTimes(1);
        // The next second: the incident has been open a second longer, and the period starts a second later.
        at(1000);
        const next = (await asked('7d')).shown;
        expect(rendered).toHaveBeenCalledTimes(2);
        const openFor = (shown: string) => Number(/open (\d+) s/.exec(shown)?.[1]);
        expect(openFor(first)).toBeGreaterThan(0);
        expect(openFor(next)).toBe(openFor(first) + 1);
      } finally {
        vi.restoreAllMocks();
      }
    });

    it('holds an answer by the monotonic clock: a wall clock set back keeps it no longer', async () => {
      const { stats, asked } = await statsAsked();
      await opened('Checkout errors', '7 days - 5 seconds');
      line.start(stats);
      await waitFor(async () => (await asked('7d')).read === false, 10_000, 'stats answered from memory');
      // Kept while the incident is in the period: else nothing would be left to read again.
      expect((await asked('7d')).shown).toContain('Incidents in the last 7 days: 1');
      // Set back an hour (NTP, say): the answer is read again all the same once its incident leaves.
      const wall = Date.now.bind(Date);
      vi.spyOn(Date, 'now').mockImplementation(() => wall() - 3_600_000);
      try {
        await waitFor(async () => (await asked('7d')).read, 15_000, 'the answer read again');
      } finally {
        vi.restoreAllMocks();
      }
    });
  });
});
