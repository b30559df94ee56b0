import { beforeAll, describe, expect, it } from 'vitest';
import type { IncidentCommand } from '../../src/commands/incidentCommand.js';
import { type IncidentCommandDeps, runIncidentCommand } from '../../src/commands/incidentHandlers.js';
import { parseFileConfig } from '../../src/config/file.js';
import type { Pool } from '../../src/db/pool.js';
import { Metrics } from '../../src/observability/metrics.js';
import { countingPool } from '../support/countingPool.js';
import { lifecycleOnDatabase, recordingEffects } from '../support/incidents.js';

/**
 * /incident's changes to an incident the command names (INC-n): what the person waits for is the change's
 * own statement, and an incident there is none of is refused by it, writing nothing.
 */
describe('an /incident change to a named incident', () => {
  const lifecycle = lifecycleOnDatabase();
  let pool: Pool;
  beforeAll(() => {
    pool = lifecycle().pool;
  });

  let trigger = 0;
  const run = (on: Pool, command: IncidentCommand) => {
    // What none of these changes uses is left out: the silence commands' pools, Alertmanager and
    // membership, and the answers' templates.
    const deps = {
      ...lifecycle(),
      pool: on,
      config: parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }'),
      effects: { ...recordingEffects(), silenceEnds: async () => {} },
      metrics: new Metrics(),
    } satisfies Partial<IncidentCommandDeps> as unknown as IncidentCommandDeps;
    return runIncidentCommand(deps, command, {
      userId: 'U0ALICE',
      channelId: 'C0OPS',
      triggerId: `handlers-${++trigger}`,
    });
  };
  // Alert-born: one a person may acknowledge.
  const alertBorn = async () =>
    (
      await pool.query<{ id: number }>(
        `INSERT INTO incidents (title, severity, channel_id, group_key, opened_at)
         VALUES ('Checkout errors', 'P2', 'C0OPS', '{}:{alertname="CheckoutErrors"}', now()) RETURNING id::int`,
      )
    ).rows[0]!.id;

  it('is the change alone: an update, a severity, a note, an acknowledgement and a resolution are one statement each', async () => {
    const id = await alertBorn();
    for (const command of [
      { name: 'update', incidentId: id, text: 'Rolling back' },
      { name: 'severity', incidentId: id, severity: 'P1' },
      { name: 'note', incidentId: id, text: 'Pool exhausted' },
      { name: 'ack', incidentId: id },
      { name: 'resolve', incidentId: id, resolution: 'Rolled back' },
    ] as IncidentCommand[]) {
      const { pool: counting, sent } = countingPool(pool);
      await run(counting, command);
      expect(sent, command.name).toHaveLength(1);
    }
  });

  it('is refused when there is no such incident, and writes nothing', async () => {
    const rows = async () =>
      (
        await pool.query<{ n: number }>(
          `SELECT (SELECT count(*) FROM incidents) + (SELECT count(*) FROM timeline_entries)
                + (SELECT count(*) FROM slack_requests) + (SELECT count(*) FROM incident_roles) AS n`,
        )
      ).rows[0]!.n;
    const before = await rows();
    const missing = 999_999;
    for (const command of [
      { name: 'update', incidentId: missing, text: 'Rolling back' },
      { name: 'severity', incidentId: missing, severity: 'P1' },
      { name: 'assign', incidentId: missing, role: 'commander', userId: 'U0BOB' },
      { name: 'note', incidentId: missing, text: 'Looking at the pool' },
      { name: 'ack', incidentId: missing },
      { name: 'resolve', incidentId: missing, resolution: 'Gone' },
    ] as IncidentCommand[]) {
      await expect(run(pool, command), command.name).rejects.toMatchObject({
        code: 'INCIDENT_NOT_FOUND',
        message: `There is no incident INC-${missing}.`,
      });
    }
    expect(await rows()).toBe(before);
  });
});
