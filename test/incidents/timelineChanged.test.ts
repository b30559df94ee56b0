import { beforeAll, describe, expect, it } from 'vitest';
import { keptTimelines } from '../../src/commands/incidentHandlers.js';
import type { Pool } from '../../src/db/pool.js';
import { IncidentError } from '../../src/incidents/errors.js';
import { loadSnapshot } from '../../src/incidents/incidentStore.js';
import { INCIDENT_TIMELINE_CHANNEL, recentEntries } from '../../src/incidents/timeline.js';
import { TemplateSet } from '../../src/render/templates.js';
import { TIMELINE_LIMIT, timelineView } from '../../src/views/incident.js';
import { countingPool } from '../support/countingPool.js';
import {
  incidentColumnChanges,
  incidentCommandsOn,
  lifecycleOnEmptiedDatabase,
} from '../support/incidents.js';
import { lineUnderTest, notificationsOn, roleAssigned, statementOn } from '../support/notifications.js';
import { waitFor } from '../support/services.js';

/**
 * /incident timeline is answered from memory, by incident, in every serving process, while nothing it shows
 * of that incident has changed: PostgreSQL tells each of a change as it commits, whoever made it, with the
 * incident's id (migrations/027).
 */
describe("an incident's timeline: what PostgreSQL tells every serving process", () => {
  const lifecycle = lifecycleOnEmptiedDatabase();
  let pool: Pool;
  let templates: TemplateSet;
  beforeAll(async () => {
    pool = lifecycle().pool;
    templates = await TemplateSet.load();
  });

  const opened = async (title: string) =>
    (
      await pool.query<{ id: number }>(
        `INSERT INTO incidents (title, severity, channel_id, opened_at) VALUES ($1, 'P2', 'C0OPS', now())
         RETURNING id::int`,
        [title],
      )
    ).rows[0]!.id;

  /** /incident on `on`, keeping timelines in `timelines`. */
  const commands = (on: Pool, timelines = keptTimelines()) =>
    incidentCommandsOn(lifecycle(), on, templates, { timelines });

  describe('the notifications', () => {
    const notified = notificationsOn(() => pool, INCIDENT_TIMELINE_CHANNEL);
    const sql = statementOn(() => pool);

    it('tells of every change of an incident that its timeline shows, with its id, and of no other, whatever the column', async () => {
      const id = await opened('Checkout errors');
      const other = await opened('Search is slow');
      // What the timeline's template is given, an operator's as ours: nothing else of the incident shows.
      const shown = async () => {
        const { entries, total } = await recentEntries(pool, id, TIMELINE_LIMIT);
        return JSON.stringify(timelineView((await loadSnapshot(pool, id, 0))!, entries, total));
      };
      const showing: string[] = [];
      for (const { column, type, to } of await incidentColumnChanges(pool)) {
        expect(to, `a change of ${column} (${type})`).toBeDefined();
        const before = await shown();
        const payloads = await notified(sql(`UPDATE incidents SET ${column} = ${to} WHERE id = $1`, [id]));
        const after = await shown();
        if (after !== before) {
          showing.push(column);
          expect(payloads, `a change of ${column}, which the timeline shows`).toEqual([String(id)]);
        } else expect(payloads, `a change of ${column}, which it does not show`).toEqual([]);
      }
      // The sweep saw the timeline change: it can fail.
      expect(showing).toEqual(expect.arrayContaining(['title', 'severity', 'state', 'status', 'impact']));
      // Another incident's timeline was never said to change.
      expect(
        await notified(sql("UPDATE incidents SET title = 'Search is down' WHERE id = $1", [other])),
      ).toEqual([String(other)]);
      expect(await notified(sql('DELETE FROM incidents WHERE id = $1', [other]))).toEqual([String(other)]);
      expect(await notified(sql('TRUNCATE incidents CASCADE'))).toContain('');
    });

    it('tells of a role named, changed or removed, and of an entry added, changed or taken, not of one posted', async () => {
      const id = await opened('Checkout errors');
      const role = (role: string, user: string) => roleAssigned(() => pool)(id, role, user);
      expect(await notified(role('scribe', 'U0ALICE'))).toEqual([String(id)]);
      expect(await notified(role('scribe', 'U0CAROL'))).toEqual([String(id)]);
      expect(await notified(role('scribe', 'U0CAROL'))).toEqual([]);
      expect(await notified(sql("UPDATE incident_roles SET assigned_by = 'U0DAVE'"))).toEqual([]);
      expect(await notified(sql('DELETE FROM incident_roles'))).toEqual([String(id)]);

      const entry = sql(
        "INSERT INTO timeline_entries (incident_id, kind, actor, data) VALUES ($1, 'note', 'U0ALICE', '{}')",
        [id],
      );
      expect(await notified(entry)).toEqual([String(id)]);
      // Many rows in one transaction: told once.
      expect(
        await notified(async () => {
          await pool.query(
            `INSERT INTO timeline_entries (incident_id, kind, actor, data)
             SELECT $1, 'note', 'U0ALICE', '{}' FROM generate_series(1, 3)`,
            [id],
          );
        }),
      ).toEqual([String(id)]);
      expect(await notified(sql("UPDATE timeline_entries SET slack_ts = '1700000000.000100'"))).toEqual([]);
      expect(await notified(sql(`UPDATE timeline_entries SET data = '{"text": "changed"}'`))).toEqual([
        String(id),
      ]);
      expect(await notified(sql('DELETE FROM timeline_entries'))).toEqual([String(id)]);
      expect(await notified(sql('TRUNCATE timeline_entries'))).toEqual(['']);
      expect(await notified(sql('TRUNCATE incident_roles'))).toEqual(['']);
    });
  });

  describe('/incident timeline, answered from memory', () => {
    const line = lineUnderTest(() => pool);

    it('reads each incident once while nothing it shows of it changes, and again after each change, from any process', async () => {
      const { pool: counting, sent } = countingPool(pool);
      const timelines = keptTimelines();
      const run = commands(counting, timelines);
      // Any statement at all: one from memory sends none.
      const reads = () => sent.length;
      const timeline = async (id: number) => {
        const before = reads();
        const shown = await run(`timeline INC-${id}`);
        return { shown, read: reads() > before };
      };

      const id = await opened('Checkout errors');
      const other = await opened('Search is slow');
      // Not heard yet: every timeline is read.
      expect((await timeline(id)).read).toBe(true);
      expect((await timeline(id)).read).toBe(true);
      line.start(timelines);
      await waitFor(
        async () => (await timeline(id)).read === false,
        10_000,
        'a timeline answered from memory',
      );
      expect((await timeline(other)).read).toBe(true);
      expect((await timeline(other)).read).toBe(false);

      // A change through this process: the note's own commit tells of it.
      await run(`note INC-${id} Rolled back the deploy`);
      await waitFor(
        async () => (await timeline(id)).shown.includes('Rolled back the deploy'),
        5000,
        'the note',
      );
      expect(await timeline(id)).toMatchObject({ read: false });
      // Another incident's timeline stays in memory.
      expect(await timeline(other)).toMatchObject({ read: false });

      // A change by another process, straight into the table.
      await pool.query("UPDATE incidents SET title = 'Checkout is down' WHERE id = $1", [id]);
      await waitFor(
        async () => (await timeline(id)).shown.includes('Checkout is down'),
        5000,
        'the new title',
      );

      // A change the timeline does not show leaves it in memory.
      await pool.query("UPDATE incidents SET root_ts = '1700000000.000100' WHERE id = $1", [id]);
      await line.caughtUp();
      expect(await timeline(id)).toMatchObject({ read: false });

      // Deleted, it is there no more, from memory or not.
      await pool.query('DELETE FROM incidents WHERE id = $1', [other]);
      await waitFor(
        () =>
          run(`timeline INC-${other}`).then(
            () => false,
            (err: unknown) => err instanceof IncidentError && err.code === 'INCIDENT_NOT_FOUND',
          ),
        5000,
        'the deleted incident',
      );

      // Heard no more: read every time again.
      await line.stop();
      expect((await timeline(id)).read).toBe(true);
      expect((await timeline(id)).read).toBe(true);
    });
  });
});
