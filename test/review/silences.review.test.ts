import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AlertmanagerApi } from '../../src/alertmanager/alertmanagerApi.js';
import { migrate } from '../../src/db/migrate.js';
import { activeSilence, type SilenceDeps, silenceIncident } from '../../src/silences/silences.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { createTestDatabase, type TestDatabase, unusedPort } from '../support/services.js';

/** From the review of issue 15: the silences use case against a real Alertmanager and PostgreSQL. */

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;

let key = 0;
const requestKey = () => `review:${Date.now()}:${key++}`;

describeWithAlertmanager('silences (review)', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let cluster: AlertmanagerCluster;
  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url });
    await migrate(pool);
    const nowhere = `http://127.0.0.1:${await unusedPort()}/alertmanager`;
    cluster = await startAlertmanagerCluster({ webhookUrls: [nowhere], token: 'x'.repeat(32) });
  }, 60_000);
  afterAll(async () => {
    await cluster?.stop();
    await pool?.end();
    await database?.drop();
  });

  const amUrl = () => `${cluster.peers[0]!.url}/`;
  const am = () => new AlertmanagerApi([amUrl()], undefined, 2_000);
  const deps = (overrides: Partial<SilenceDeps> = {}): SilenceDeps => ({
    pool,
    alertmanager: am(),
    config: { silences: { maxDuration: WEEK } },
    membership: { groupMembers: () => undefined, groupId: () => undefined },
    effects: { changed: async () => {}, silenceEnds: async () => {} },
    ...overrides,
  });

  let service = 0;
  async function alertBorn(): Promise<number> {
    const name = `svc-${Date.now()}-${service++}`;
    const { rows } = await pool.query(
      `INSERT INTO incidents (title, severity, channel_id, group_key, group_labels, common_labels)
       VALUES ('HighLatency', 'P1', 'C0PAYMENTS', $1, $2, $2) RETURNING id::int AS id`,
      [`{}:{service="${name}"}`, { alertname: 'HighLatency', service: name }],
    );
    return rows[0].id;
  }

  it('reads a silence whose comment says "silence not found" as a silence, not as a refusal', async () => {
    // Anyone's silence (amtool, the UI, or a reason typed in Slack) may say so in its comment.
    const startsAt = new Date();
    const theirs = await am().postSilence({
      matchers: [{ name: 'job', value: 'batch' }],
      startsAt,
      endsAt: new Date(startsAt.getTime() + HOUR),
      createdBy: 'someone',
      comment: 'Silence not found in the runbook, muting by hand',
    });
    expect((await am().getSilence(theirs)).id).toBe(theirs);
    expect((await am().listSilences()).map((s) => s.id)).toContain(theirs);
    // Before, every /incident silence failed: "Alertmanager does not know that silence".
    const id = await alertBorn();
    const silence = await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'flapping',
      requestKey: requestKey(),
    });
    expect(await activeSilence(pool, id)).toEqual(silence);
    await am().expireSilence(theirs);
  });
});
