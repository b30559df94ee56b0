import type { Queue } from 'bullmq';
import { describe, expect, it } from 'vitest';
import { pendingHealthRequest, recordHealthFailure, requestHealthChecks } from '../../src/health/requests.js';
import type { HealthJob } from '../../src/queues/healthJobs.js';
import { countingPool } from '../support/countingPool.js';
import { migratedDatabase } from '../support/database.js';

/** A health check asked for: claimed and recorded before the person is answered, once however often asked. */
describe('asking for health checks', () => {
  const pool = migratedDatabase();
  const queued: HealthJob[] = [];
  const health = {
    add: async (_name: string, job: HealthJob) => queued.push(job),
  } as unknown as Queue<HealthJob>;
  const failing = {
    add: async () => {
      throw new Error('connect ECONNREFUSED 127.0.0.1:6379');
    },
  } as unknown as Queue<HealthJob>;
  const asked = { services: ['payments-api'], channelId: 'C0OPS', requestedBy: 'U0ALICE' };
  const written = async (key: string) =>
    (
      await pool().query(
        `SELECT (SELECT count(*)::int FROM slack_requests WHERE request_key = $1) AS claims,
                (SELECT count(*)::int FROM health_requests WHERE request_key = $1) AS requests`,
        [key],
      )
    ).rows[0];

  it('claims the Slack request and records it in one statement, and refuses a replay', async () => {
    const { pool: counting, sent } = countingPool(pool());
    expect(await requestHealthChecks({ pool: counting, health }, asked, 'command:once')).toBe(true);
    expect(sent).toHaveLength(1);
    expect(await requestHealthChecks({ pool: pool(), health }, asked, 'command:once')).toBe(false);
    expect(await written('command:once')).toEqual({ claims: 1, requests: 1 });
    expect(queued).toHaveLength(1);
  });

  it('gives back the claim and the request when the job cannot be queued', async () => {
    await expect(
      requestHealthChecks({ pool: pool(), health: failing }, asked, 'command:unqueued'),
    ).rejects.toThrow('ECONNREFUSED');
    expect(await written('command:unqueued')).toEqual({ claims: 0, requests: 0 });
  });
});

/** A request failing other than through an outage: counted, then given up by the try that reaches the limit. */
describe('a health request that keeps failing', () => {
  const pool = migratedDatabase();
  const queue = { add: async () => {} } as unknown as Queue<HealthJob>;

  it('is given up at the limit, by that try alone, keeping an error that holds a NUL', async () => {
    const asked = { services: ['payments-api'], channelId: 'C0OPS', requestedBy: 'U0ALICE' };
    await requestHealthChecks({ pool: pool(), health: queue }, asked, 'command:failing');
    const { rows } = await pool().query(
      "SELECT id::int AS id FROM health_requests WHERE request_key = 'command:failing'",
    );
    const id = rows[0].id;
    expect(await recordHealthFailure(pool(), id, 'first', 2)).toEqual({ tryAgain: true });
    expect(await recordHealthFailure(pool(), id, 'bad \0 byte', 2)).toEqual({
      givenUp: { channelId: 'C0OPS' },
    });
    expect(await recordHealthFailure(pool(), id, 'later', 2)).toBeUndefined();
    expect(await pendingHealthRequest(pool(), id)).toBeUndefined();
    const { rows: kept } = await pool().query('SELECT failures, error FROM health_requests WHERE id = $1', [
      id,
    ]);
    expect(kept).toEqual([{ failures: 2, error: 'bad \\0 byte' }]);
  });
});
