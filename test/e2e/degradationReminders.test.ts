import { afterEach, describe, expect, it } from 'vitest';
import { waitFor } from '../support/services.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

/**
 * Issue 14: notifications never decide an outcome. A degradation recorded while its reminder could not be
 * queued (Redis away after the run, or Redis lost the job) is reminded all the same: the worker rebuilds
 * the reminders from Postgres when it starts, and every minute after.
 */
describe('degradation reminders', () => {
  const bots: TestBot[] = [];
  afterEach(async () => {
    for (const bot of bots.splice(0)) await bot.stop();
  });

  it('are queued again from Postgres when the worker starts, for every service running degraded', async () => {
    const bot = await startTestBot({ worker: false });
    bots.push(bot);
    // A degradation the database holds and no queue knows of.
    await bot.app.pool.query(
      "INSERT INTO service_degradations (service, enabled_at) VALUES ('payments-api', now() - interval '1 minute')",
    );
    bots.splice(0);
    await bot.stop({ keepDatabase: true });

    const restarted = await startTestBot({ worker: true, database: bot.database });
    bots.push(restarted);
    const job = await waitFor(
      () => restarted.app.tasks.getJob('degradation-reminder-payments-api'),
      20_000,
      'the degradation reminder to be queued',
    );
    expect(job.data).toEqual({ kind: 'degradation-reminder', service: 'payments-api' });
  });
});
