import { describe, expect, it } from 'vitest';
import { expectSurvived, runStoreCut } from '../support/storeCut.js';

/** Fault scenario 3 of issue 13: PostgreSQL cut away from `incident-bot serve`, then given back. */
describe('a PostgreSQL cut', () => {
  it('leaves the bot up, answering 503 and "try again", and Slack catches up after it, one root each', async () => {
    const report = await runStoreCut({
      store: 'postgres',
      outageMs: 20_000,
      inFlight: 4,
      firingDuringCut: 3,
      // Syncs wait for the database on a steady 2 s, not a backoff grown with the cut (13 s after 20 s).
      catchUpTimeoutMs: 8000,
    });
    expectSurvived(report, 'postgres');
    for (const list of report.listDuringCut) expect(list.text).toMatch(/try again/i);
  }, 150_000);
});
