import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { allIngested } from '../support/deliveries.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

/**
 * A webhook statement PostgreSQL leaves waiting (here on a table lock another session holds) must not hold
 * Alertmanager's delivery, and every delivery behind it, for as long as the lock lasts: the running bot
 * answers 503 within its webhook pool's timeout, stores nothing for it, and takes Alertmanager's retry.
 */
describe('a webhook statement held on a lock', () => {
  let bot: TestBot | undefined;
  let locker: pg.Client | undefined;
  afterAll(async () => {
    await locker?.end();
    await bot?.stop();
  });

  it('answers 503, writes nothing, and stores the retry once the lock is gone', async () => {
    bot = await startTestBot();
    const delivery = payload({ group: 'HeldOnALock', alerts: [{ instance: 'pay-1' }] });
    const send = () =>
      bot!.post('/alertmanager', delivery, { authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}` });
    const groupRows = async () =>
      Number(
        (
          await bot!.app.pool.query('SELECT count(*) AS n FROM alert_deliveries WHERE group_key = $1', [
            delivery.groupKey,
          ])
        ).rows[0].n,
      );

    // A session holding what every INSERT into the deliveries needs, as a long migration or a stuck
    // transaction would; reads still pass.
    locker = new pg.Client({ connectionString: bot.database.url });
    await locker.connect();
    await locker.query('BEGIN');
    await locker.query('LOCK TABLE alert_deliveries IN EXCLUSIVE MODE');

    const held = await send();
    expect(held.status).toBe(503);
    expect(held.headers.get('retry-after')).toBe('5');

    // Its statement was ended, not left waiting to finish behind the 503 once the lock is gone.
    const lockerPid = (locker as pg.Client & { processID?: number | null }).processID;
    expect(lockerPid).toBeTypeOf('number');
    const { rows: waiting } = await bot.app.pool.query(
      `SELECT 1 FROM pg_stat_activity
        WHERE $1 = ANY(pg_blocking_pids(pid)) AND query LIKE 'INSERT INTO alert_deliveries%'`,
      [lockerPid],
    );
    expect(waiting).toEqual([]);
    await locker.query('ROLLBACK');
    expect(await groupRows()).toBe(0);

    const retried = await send();
    expect(retried.status).toBe(200);
    await allIngested(bot.app.pool, () => bot!.app.deliveriesIdle());
    expect(await groupRows()).toBe(1);
    const { rows } = await bot.app.pool.query('SELECT count(*) AS n FROM incidents');
    expect(Number(rows[0].n)).toBe(1);
  }, 60_000);
});
