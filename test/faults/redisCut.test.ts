import { describe, expect, it } from 'vitest';
import { expectSurvived, runStoreCut } from '../support/storeCut.js';

/** Fault scenario 4 of issue 13: Redis cut away from `incident-bot serve` for 20 s, then given back. */
describe('a Redis cut', () => {
  it('leaves the bot up, storing what Alertmanager sends, /incident list from PostgreSQL and "try again" to /health, and Slack catches up, one root each', async () => {
    const report = await runStoreCut({ store: 'redis', outageMs: 20_000, inFlight: 4, firingDuringCut: 3 });
    expectSurvived(report, 'redis');
    // /incident list reads only PostgreSQL: it answers in full while Redis is away.
    for (const list of report.listDuringCut) expect(list.text).toMatch(/^\d+ open incidents?$/);
  }, 150_000);
});
