import { describe, expect, it } from 'vitest';
import { listWaitingOrRunning } from '../../src/approvals/requests.js';
import { claimSlackRequest, slackRequestSeen } from '../../src/db/slackRequests.js';
import { incidentStats } from '../../src/incidents/incidentStats.js';
import { listOpenIncidents } from '../../src/incidents/incidentStore.js';
import { recentEntries } from '../../src/incidents/timeline.js';
import { DAY_MS } from '../../src/primitives/duration.js';
import { countingPool } from '../support/countingPool.js';
import { migratedDatabase } from '../support/database.js';

/**
 * What a person waits on as a command is answered is sent as prepared statements: PostgreSQL parses an
 * unnamed one at every call (each is planned at every call either way: see createPool), which for
 * /incident list was about a quarter of its time there.
 */
describe('the statements behind the answers people wait on', () => {
  const pool = migratedDatabase(4);

  it('of /incident list, stats and timeline, and /action list, are prepared', async () => {
    const { pool: counting, sent, unnamed } = countingPool(pool());
    const { rows } = await pool().query<{ id: number }>(
      "INSERT INTO incidents (title, severity, channel_id, opened_at) VALUES ('Checkout errors', 'P1', 'C0OPS', now()) RETURNING id::int",
    );
    await listOpenIncidents(counting, 10);
    await incidentStats(counting, new Date(Date.now() - 7 * DAY_MS));
    await recentEntries(counting, rows[0]!.id, 10);
    await listWaitingOrRunning(counting, 40);
    expect(sent).toHaveLength(6);
    expect(unnamed).toEqual([]);
  });

  it("of a request's claim, and the look for a replay, are prepared", async () => {
    const { pool: counting, sent, unnamed } = countingPool(pool());
    expect(await claimSlackRequest(counting, 'command:prepared')).toBe(true);
    expect(await claimSlackRequest(counting, 'command:prepared')).toBe(false);
    expect(await slackRequestSeen(counting, 'command:prepared')).toBe(true);
    expect(sent).toHaveLength(3);
    expect(unnamed).toEqual([]);
  });
});
