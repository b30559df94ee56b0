import { describe, expect, it } from 'vitest';
import { runStoreCut } from '../support/storeCut.js';

/** Fault scenario 4 of issue 13: Redis cut away from `incident-bot serve` for 20 s, then given back. */
describe('a Redis cut', () => {
  it('leaves the bot up, answering 503 to Alertmanager and /incident list from PostgreSQL, and Slack catches up, one root each', async () => {
    const report = await runStoreCut({ store: 'redis', outageMs: 20_000, inFlight: 4, firingDuringCut: 3 });
    expect(report.alive, report.output.slice(-3000)).toBe(true);
    expect(Object.keys(report.webhookDuringCut)).toEqual(['503']);
    expect(Object.keys(report.readyzDuringCut)).toEqual(['503']);
    expect(report.listDuringCut.length).toBeGreaterThan(0);
    // /incident list reads only PostgreSQL: it answers in full while Redis is away.
    for (const list of report.listDuringCut) {
      expect(list.status).toBe(200);
      expect(list.text).toMatch(/open incident/);
      expect(list.ms).toBeLessThan(3000);
    }
    expect(report.lost).toBe(0);
    expect(report.duplicateRoots).toBe(0);
    expect(report.catchUpMs, report.output.slice(-3000)).toBeDefined();
  }, 150_000);
});
