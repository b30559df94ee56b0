import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { moveToFallbackChannel } from '../../src/incidents/channelFallback.js';
import { incidentsOfChannel } from '../../src/incidents/incidentOfChannel.js';
import { findIncident } from '../../src/incidents/lifecycle.js';
import { migratedDatabase } from '../support/database.js';
import { createTestDatabase } from '../support/services.js';

/**
 * A declared incident whose own channel Slack would not create is shown in the announcement channel:
 * that channel is shared, not the incident's own, whatever `dedicated_channel` says.
 */
describe('the incident of a channel, when an incident channel could not be made', () => {
  const pool = migratedDatabase();

  /** A declared incident waiting for its own channel (incidents.createChannel), as declareIncident leaves it. */
  const declaredWithChannel = async (title: string) => {
    const { rows } = await pool().query<{ id: number }>(
      `INSERT INTO incidents (title, severity, channel_id, dedicated_channel, announcement_channel_id, declared_by)
       VALUES ($1, 'P2', NULL, true, 'C0ANNOUNCE', 'U0ALICE') RETURNING id::int AS id`,
      [title],
    );
    return rows[0]!.id;
  };
  const alertBorn = async (channel: string, title: string) => {
    const { rows } = await pool().query<{ id: number }>(
      `INSERT INTO incidents (title, severity, channel_id, group_key, root_ts)
       VALUES ($1, 'P1', $2, $1, '1700000000.000100') RETURNING id::int AS id`,
      [title, channel],
    );
    return rows[0]!.id;
  };

  it('treats the announcement channel it is shown in as shared: several open there are a choice', async () => {
    const refused = await declaredWithChannel('Checkout is down');
    expect(await moveToFallbackChannel(pool(), refused, 'C0ANNOUNCE', 'restricted_action')).toBeDefined();
    const other = await alertBorn('C0ANNOUNCE', 'HighErrorRate');

    const found = await incidentsOfChannel(pool(), 'C0ANNOUNCE');
    expect(found.kind).toBe('several');
    expect(found.kind === 'several' && found.incidents.map((i) => i.id).sort()).toEqual(
      [refused, other].sort(),
    );
    // Nor does /incident update without INC-n take the shared channel for that incident's own.
    await expect(findIncident(pool(), { channelId: 'C0ANNOUNCE' })).rejects.toMatchObject({
      code: 'NO_INCIDENT_HERE',
    });
  });

  it('shows a second declared incident without a channel in the same announcement channel', async () => {
    const first = await declaredWithChannel('Refunds stuck');
    const second = await declaredWithChannel('Payouts late');
    expect(await moveToFallbackChannel(pool(), first, 'C0ANNOUNCE2', 'restricted_action')).toBeDefined();
    expect(await moveToFallbackChannel(pool(), second, 'C0ANNOUNCE2', 'restricted_action')).toBeDefined();
    const { rows } = await pool().query(
      'SELECT channel_id AS channel FROM incidents WHERE id = ANY($1) ORDER BY id',
      [[first, second]],
    );
    expect(rows).toEqual([{ channel: 'C0ANNOUNCE2' }, { channel: 'C0ANNOUNCE2' }]);
  });
});

describe('an incident moved to a fallback channel before it stopped being dedicated there', () => {
  it("is made one of that channel's incidents by the migration, not its own", async () => {
    const db = await createTestDatabase();
    const pool = createPool(db.url, 2);
    const before = await mkdtemp(join(tmpdir(), 'migrations-'));
    try {
      await cp(MIGRATIONS_DIR, before, {
        recursive: true,
        filter: (path) => !/\/019_[^/]*$/.test(path),
      });
      await migrate(pool, before);
      // As moveToFallbackChannel left it: shown in the announcement channel, still dedicated.
      await pool.query(
        `INSERT INTO incidents (title, severity, channel_id, dedicated_channel, slack_error)
         VALUES ('Checkout is down', 'P2', 'C0ANNOUNCE', true, 'restricted_action'),
                ('Own channel', 'P2', 'C0OWN', true, NULL)`,
      );
      await migrate(pool);
      const { rows } = await pool.query(
        'SELECT channel_id AS channel, dedicated_channel AS own FROM incidents ORDER BY id',
      );
      expect(rows).toEqual([
        { channel: 'C0ANNOUNCE', own: false },
        { channel: 'C0OWN', own: true },
      ]);
    } finally {
      await pool.end();
      await db.drop();
      await rm(before, { recursive: true, force: true });
    }
  });
});
