import { describe, expect, it } from 'vitest';
import { runStoreCut } from '../support/storeCut.js';

/** Fault scenario 3 of issue 13: PostgreSQL cut away from `incident-bot serve` for 20 s, then given back. */
describe('a PostgreSQL cut', () => {
  it('leaves the bot up, answering 503 and "try again", and Slack catches up after it, one root each', async () => {
    const report = await runStoreCut({
      store: 'postgres',
      outageMs: 20_000,
      inFlight: 4,
      firingDuringCut: 3,
    });
    expect(report.alive, report.output.slice(-3000)).toBe(true);
    // Never a 4xx (Alertmanager drops it) and never a 200 (nothing could be stored).
    expect(Object.keys(report.webhookDuringCut)).toEqual(['503']);
    expect(Object.keys(report.readyzDuringCut)).toEqual(['503']);
    expect(report.listDuringCut.length).toBeGreaterThan(0);
    for (const list of report.listDuringCut) {
      expect(list.status).toBe(200);
      expect(list.text).toMatch(/try again/i);
      // Slack shows "operation_timeout" to whoever typed a command not answered within 3 s.
      expect(list.ms).toBeLessThan(3000);
    }
    expect(report.lost).toBe(0);
    expect(report.duplicateRoots).toBe(0);
    expect(report.catchUpMs, report.output.slice(-3000)).toBeDefined();
  }, 150_000);
});
