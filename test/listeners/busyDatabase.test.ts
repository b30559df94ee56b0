import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { withClientWait } from '../../src/db/pool.js';
import { payload } from '../support/alertmanager.js';
import { waitFor } from '../support/services.js';
import { clickButton, lastEphemeralTo, messageOf, SRE, slashCommand } from '../support/slackRequests.js';
import { jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * The bot's pool busy, not the database down: its clients come back, but to callers queued before. A
 * click, whose work follows its acknowledgement, waits its turn and gets its result; a command, answered
 * in its acknowledgement within Slack's 3 seconds, is told the bot is busy. Before, pg-pool gave up on
 * both after CONNECTION_TIMEOUT_MS, and both were told the database was not answering.
 */

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Takes every client of `pool`, and queues as many takers behind them. `busy` is called once the bot's
 * `callers` connects are queued behind those: then the clients come back, to the takers, who keep them
 * 1.5 s. So a caller sees clients come back within its first second, and has one only after it.
 */
async function keepBusy(pool: pg.Pool, callers: number, busy: () => Promise<unknown>): Promise<void> {
  const max = pool.options.max;
  const held = await Promise.all(Array.from({ length: max }, () => pool.connect()));
  const takers = withClientWait({ ms: 60_000 }, () =>
    Array.from({ length: max }, async () => {
      const client = await pool.connect();
      await sleep(1500);
      client.release();
    }),
  );
  const answered = busy();
  await waitFor(() => pool.waitingCount >= max + callers, 10_000, "the bot's callers queued");
  for (const client of held) client.release();
  await Promise.all([...takers, answered]);
}

describe('a busy database pool', () => {
  let bot: TestBot;
  beforeAll(async () => {
    // No queue workers: the bot's pool is used by these requests alone.
    bot = await startTestBot({ worker: false });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  /** An incident from an alert, its root message taken as posted: no worker posts it here. */
  const openIncident = async (group: string) => {
    const delivered = payload({ group, alerts: [{ instance: 'pod-1' }] });
    const id = Number(((await jsonOf(await bot.deliver(delivered))).incident as string).slice(4));
    await bot.app.pool.query('UPDATE incidents SET channel_id = $1, root_ts = $2 WHERE id = $3', [
      'C0PAYMENTS',
      `1700000000.${String(id).padStart(6, '0')}`,
      id,
    ]);
    return id;
  };

  it('is waited out by a click once it is acknowledged, and told as busy to a command', async () => {
    const id = await openIncident('BusyPool');
    const root = await messageOf(bot, 'incident', id);

    let command = '';
    await keepBusy(bot.app.pool, 2, async () => {
      const [clicked, answer] = await Promise.all([
        clickButton(bot, 'incident_acknowledge', String(id), { user: SRE.bob, ...root }),
        slashCommand(bot, 'list', { user: SRE.alice }),
      ]);
      expect(clicked).toBe(200);
      command = answer.text;
    });
    expect(command).toMatch(/^The bot is too busy to answer right now: all its database connections/);
    await waitFor(() => lastEphemeralTo(bot, SRE.bob) !== '', 20_000, 'the clicker told');
    expect(lastEphemeralTo(bot, SRE.bob)).toBe(
      `You acknowledged INC-${id}: it is yours, and nobody else is called for it.`,
    );
  });

  it("tells the clicker of a form's button the bot is busy: the form could not open once its 3 s are over", async () => {
    const id = await openIncident('BusyPoolForm');
    const root = await messageOf(bot, 'incident', id);
    const views = bot.slack.emulator.callsOf('views.open').length;
    await keepBusy(bot.app.pool, 1, () =>
      clickButton(bot, 'incident_post_update', String(id), { user: SRE.carol, ...root }),
    );
    await waitFor(() => lastEphemeralTo(bot, SRE.carol) !== '', 20_000, 'the clicker told');
    expect(lastEphemeralTo(bot, SRE.carol)).toMatch(/^The bot is too busy to answer right now/);
    expect(bot.slack.emulator.callsOf('views.open')).toHaveLength(views);
  });
});
