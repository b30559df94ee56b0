import { beforeEach, describe, expect, it } from 'vitest';
import { REQUESTS_LISTED_CHANNEL } from '../../src/approvals/requests.js';
import {
  type ActionCommandDeps,
  keptRequestList,
  runActionCommand,
} from '../../src/commands/actionHandlers.js';
import { countingPool } from '../support/countingPool.js';
import { migratedDatabase } from '../support/database.js';
import { lineUnderTest, notificationsOn } from '../support/notifications.js';
import { waitFor } from '../support/services.js';

/**
 * /action list is answered from memory, in every serving process, while none of the requests waiting or
 * running has changed: PostgreSQL tells each of a change as it commits, whoever made it (migration 026).
 */
describe('the action requests listed: what PostgreSQL tells every serving process', () => {
  const pool = migratedDatabase(4);
  beforeEach(async () => {
    await pool().query('TRUNCATE action_requests CASCADE');
  });

  const requested = async (service: string, status = 'pending') =>
    (
      await pool().query<{ id: number }>(
        `INSERT INTO action_requests (action, service, requested_by, channel_id, status, required_approvals, expires_at)
         VALUES ('rollback', $1, 'U0ALICE', 'C0OPS', $2, 1, now() + interval '1 hour') RETURNING id::int`,
        [service, status],
      )
    ).rows[0]!.id;

  describe('the notifications', () => {
    const notified = notificationsOn(pool, REQUESTS_LISTED_CHANNEL);
    /** Whether `work` was told of. */
    const told = async (work: () => Promise<unknown>) => (await notified(work)).length > 0;
    const move = (id: number, change: string) => () =>
      pool().query(`UPDATE action_requests SET ${change} WHERE id = $1`, [id]);

    it('tells of a request made, changed where the list shows it, moved out of it, or deleted', async () => {
      let id = 0;
      expect(await told(async () => (id = await requested('payments-api')))).toBe(true);
      for (const change of ["action = 'restart'", "service = 'checkout'", "requested_by = 'U0BOB'"])
        expect(await told(move(id, change)), change).toBe(true);
      for (const status of ['approved', 'running', 'succeeded'])
        expect(await told(move(id, `status = '${status}'`)), status).toBe(true);
      const other = await requested('checkout');
      expect(await told(() => pool().query('DELETE FROM action_requests WHERE id = $1', [other]))).toBe(true);
      expect(await told(() => pool().query('TRUNCATE action_requests CASCADE'))).toBe(true);
    });

    it('tells of nothing the list does not show: a finished request, a waiting one’s other columns', async () => {
      expect(await told(() => requested('payments-api', 'cancelled'))).toBe(false);
      const id = await requested('payments-api');
      expect(await told(move(id, "dry_run_status = 'running', version = version + 1"))).toBe(false);
      await pool().query("UPDATE action_requests SET status = 'failed' WHERE id = $1", [id]);
      expect(await told(move(id, "output = 'rolled back'"))).toBe(false);
    });
  });

  describe('/action list, answered from memory', () => {
    const line = lineUnderTest(() => pool());

    it('reads once while no request listed changes, and again after each change, from any process', async () => {
      const { pool: counting, sent } = countingPool(pool());
      const requestList = keptRequestList();
      const deps = { pool: counting, requestList } satisfies Partial<ActionCommandDeps> as ActionCommandDeps;
      const reads = () => sent.filter((text) => text.includes('FROM action_requests')).length;
      /** The list, and whether it was read from PostgreSQL to answer it. */
      const list = async () => {
        const before = reads();
        const shown = await runActionCommand(
          deps,
          { name: 'list' },
          { userId: 'U0ALICE', channelId: 'C0OPS', triggerId: 't' },
        );
        return { shown: JSON.stringify(shown), read: reads() > before };
      };

      expect(await list()).toMatchObject({
        shown: expect.stringContaining('No action requests'),
        read: true,
      });
      expect((await list()).read).toBe(true);
      line.start(requestList);
      await waitFor(async () => (await list()).read === false, 10_000, 'a list answered from memory');

      const id = await requested('payments-api');
      await waitFor(async () => (await list()).shown.includes('payments-api: pending'), 5000, 'the request');
      expect(await list()).toMatchObject({ read: false });
      await pool().query("UPDATE action_requests SET status = 'approved' WHERE id = $1", [id]);
      await waitFor(
        async () => (await list()).shown.includes('payments-api: approved'),
        5000,
        'its approval',
      );
      expect(await list()).toMatchObject({ read: false });

      await line.stop();
      expect((await list()).read).toBe(true);
      expect((await list()).read).toBe(true);
    });
  });
});
