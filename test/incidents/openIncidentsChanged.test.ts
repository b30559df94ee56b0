import { beforeAll, describe, expect, it } from 'vitest';
import { keptIncidentList } from '../../src/commands/incidentHandlers.js';
import type { Pool } from '../../src/db/pool.js';
import { OPEN_INCIDENTS_CHANNEL } from '../../src/incidents/incidentStore.js';
import { TemplateSet } from '../../src/render/templates.js';
import { countingPool } from '../support/countingPool.js';
import { incidentCommandsOn, lifecycleOnEmptiedDatabase } from '../support/incidents.js';
import { lineUnderTest, notificationsOn, roleAssigned, statementOn } from '../support/notifications.js';
import { waitFor } from '../support/services.js';

/**
 * /incident list is answered from memory, in every serving process, while nothing it shows has changed:
 * PostgreSQL tells each of a change as it commits, whoever made it (migrations/025).
 */
describe('the open incidents listed: what PostgreSQL tells every serving process', () => {
  const lifecycle = lifecycleOnEmptiedDatabase();
  let pool: Pool;
  beforeAll(() => {
    pool = lifecycle().pool;
  });

  const opened = async (title: string, state = 'open') =>
    (
      await pool.query<{ id: number }>(
        `INSERT INTO incidents (title, severity, channel_id, opened_at, state)
         VALUES ($1, 'P2', 'C0OPS', now(), $2) RETURNING id::int`,
        [title, state],
      )
    ).rows[0]!.id;

  describe('the notifications', () => {
    const notified = notificationsOn(() => pool, OPEN_INCIDENTS_CHANNEL);
    /** Whether `work` was told of. */
    const told = async (work: () => Promise<unknown>) => (await notified(work)).length > 0;
    const sql = statementOn(() => pool);

    it('tells of an incident opened, changed where the list shows it, closed or deleted', async () => {
      let id = 0;
      expect(await told(async () => (id = await opened('Checkout errors')))).toBe(true);
      for (const change of [
        "title = 'Checkout down'",
        "severity = 'P1'",
        "status = 'identified'",
        "channel_id = 'C0OTHER'",
        "created_at = now() - interval '1 hour'",
      ])
        expect(await told(sql(`UPDATE incidents SET ${change} WHERE id = $1`, [id])), change).toBe(true);
      expect(await told(sql("UPDATE incidents SET state = 'resolved' WHERE id = $1", [id]))).toBe(true);
      expect(await told(sql("UPDATE incidents SET state = 'open' WHERE id = $1", [id]))).toBe(true);
      expect(await told(sql('DELETE FROM incidents WHERE id = $1', [id]))).toBe(true);
      expect(await told(sql('TRUNCATE incidents CASCADE'))).toBe(true);
    });

    it('tells of a commander named, changed or removed, and of no other role', async () => {
      const id = await opened('Checkout errors');
      const role = (role: string, user: string) => roleAssigned(() => pool)(id, role, user);
      expect(await told(role('commander', 'U0ALICE'))).toBe(true);
      expect(await told(role('commander', 'U0CAROL'))).toBe(true);
      expect(await told(role('commander', 'U0CAROL'))).toBe(false);
      expect(await told(role('scribe', 'U0ALICE'))).toBe(false);
      expect(await told(sql("DELETE FROM incident_roles WHERE role = 'scribe'"))).toBe(false);
      expect(await told(sql("DELETE FROM incident_roles WHERE role = 'commander'"))).toBe(true);
    });

    it('tells of nothing the list does not show: a closed incident, an open one’s other columns', async () => {
      const closed = await told(() => opened('Old outage', 'resolved'));
      expect(closed).toBe(false);
      const id = await opened('Checkout errors');
      expect(await told(sql("UPDATE incidents SET last_delivery_digest = 'd1' WHERE id = $1", [id]))).toBe(
        false,
      );
      expect(
        await told(sql("UPDATE incidents SET title = 'Old outage, renamed' WHERE state = 'resolved'")),
      ).toBe(false);
    });
  });

  describe('/incident list, answered from memory', () => {
    const line = lineUnderTest(() => pool);

    it('reads once while nothing it shows changes, and again after each change, from any process', async () => {
      const { pool: counting, sent } = countingPool(pool);
      const incidentList = keptIncidentList();
      const run = incidentCommandsOn(lifecycle(), counting, await TemplateSet.load(), { incidentList });
      const reads = () => sent.filter((text) => text.includes('FROM incidents i')).length;
      /** The list, and whether it was read from PostgreSQL to answer it. */
      const list = async () => {
        const before = reads();
        const shown = await run('list');
        return { shown, read: reads() > before };
      };
      // Not heard yet: every list is read.
      expect((await list()).read).toBe(true);
      expect((await list()).read).toBe(true);
      line.start(incidentList);
      await waitFor(async () => (await list()).read === false, 10_000, 'a list answered from memory');

      // A change through this process: the declare's own commit tells of it.
      await run('declare P1 Checkout is down');
      await waitFor(
        async () => (await list()).shown.includes('Checkout is down'),
        5000,
        'the declared incident',
      );
      expect(await list()).toMatchObject({ read: false });

      // A change by another process, straight into the table.
      await pool.query("UPDATE incidents SET title = 'Checkout is slow'");
      await waitFor(async () => (await list()).shown.includes('Checkout is slow'), 5000, 'the new title');
      expect(await list()).toMatchObject({ read: false });

      // A change the list does not show leaves it in memory.
      await pool.query("UPDATE incidents SET last_delivery_digest = 'd2'");
      await line.caughtUp();
      expect(await list()).toMatchObject({ read: false });

      // Heard no more: read every time again.
      await line.stop();
      expect((await list()).read).toBe(true);
      expect((await list()).read).toBe(true);
    });
  });
});
