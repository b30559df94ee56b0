import { beforeAll, describe, expect, it } from 'vitest';
import { ingestDelivery } from '../../src/alerts/ingest.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { inTransaction } from '../../src/db/pool.js';
import { type ProjectionDeps, syncIncident } from '../../src/incidents/projection.js';
import { addTimelineEntries } from '../../src/incidents/timeline.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { RunningEmulator } from '../../src/sandbox/slackEmulator.js';
import { payload } from '../support/alertmanager.js';
import { countingPool } from '../support/countingPool.js';
import { migratedDatabase } from '../support/database.js';
import { slackSide } from '../support/slackSide.js';

const TOKEN = 'xoxb-projection-test';
const CHANNEL = 'C0DEFAULT1';
const LIMIT = '{ perMinute: 6000, burst: 100 }';
// No throttle: each sync here runs at once.
const config = parseFileConfig(
  'test',
  `slack: { defaultChannel: ${CHANNEL}, syncIntervalMs: 0, rateLimits: { postMessagePerChannel: ${LIMIT}, update: ${LIMIT} } }`,
);

/** syncIncident against a real database and Redis and the emulated Slack. */
describe("an incident's sync to Slack", () => {
  const pool = migratedDatabase(4);
  const side = slackSide(TOKEN);
  let slack: RunningEmulator;
  let deps: ProjectionDeps;
  beforeAll(() => {
    const { emulator, ...projection } = side();
    slack = emulator;
    deps = { pool: pool(), ...projection, metrics: new Metrics(), config };
  });

  const opened = async (group: string) => {
    const result = await inTransaction(pool(), (db) =>
      ingestDelivery(
        db,
        config,
        WebhookPayloadSchema.parse(payload({ group, alerts: [{ instance: 'pod-1' }] })),
      ),
    );
    return result.incident!.id;
  };

  it('finds a shown incident in its lock and one read, and takes no transaction for it', async () => {
    const id = await opened('SyncNothingToDo');
    await syncIncident(deps, id);
    const { pool: counting, sent } = countingPool(pool());
    const messages = slack.emulator.allMessages().length;
    expect(await syncIncident({ ...deps, pool: counting }, id)).toMatchObject({ slackCalls: 0 });
    expect(sent).toHaveLength(3);
    expect(sent[0]).toMatch(/pg_try_advisory_lock/);
    expect(sent[1]).toMatch(/FROM incidents i WHERE id = \$1/);
    expect(sent[2]).toMatch(/pg_advisory_unlock/);
    expect(slack.emulator.allMessages()).toHaveLength(messages);
  });

  it('tells the thread an entry recorded after its root was shown', async () => {
    const id = await opened('SyncAnEntryLater');
    await syncIncident(deps, id);
    const { rows } = await pool().query('SELECT root_ts FROM incidents WHERE id = $1', [id]);
    const thread = () =>
      slack.emulator.threadOf(CHANNEL, rows[0].root_ts).map((m) => JSON.stringify(m.blocks));
    const before = thread();
    // Without a new version, as a sync that died after updating the root leaves it: only the entry is behind.
    await addTimelineEntries(pool(), id, [{ kind: 'note', actor: 'U0ALICE', data: { text: 'Rolled back' } }]);
    expect(await syncIncident(deps, id)).toMatchObject({ slackCalls: 1 });
    expect(thread().slice(before.length)).toEqual([expect.stringContaining('Rolled back')]);
  });
});
