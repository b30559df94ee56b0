import { randomUUID } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AlertmanagerApi } from '../../src/alertmanager/alertmanagerApi.js';
import { migrate } from '../../src/db/migrate.js';
import {
  activeSilence,
  endSilenceIfDue,
  extendSilence,
  type SilenceDeps,
  SilenceError,
  silenceIncident,
} from '../../src/silences/silences.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { createTestDatabase, type TestDatabase, unusedPort, waitFor } from '../support/services.js';

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

  it('answers presses behind one waiting on a slow Alertmanager at once, holding no connection meanwhile', async () => {
    // An Alertmanager that answers only when told to.
    const held: ServerResponse[] = [];
    const slow = createServer((req, res) => {
      req.resume();
      held.push(res);
    });
    await new Promise<void>((resolve) => slow.listen(0, '127.0.0.1', resolve));
    const slowAm = new AlertmanagerApi(
      [`http://127.0.0.1:${(slow.address() as AddressInfo).port}/`],
      undefined,
      60_000,
    );
    // A small pool, as the bot's is small next to the presses an incident at 3 a.m. can get.
    const small = new pg.Pool({ connectionString: database.url, max: 3, connectionTimeoutMillis: 2_000 });
    try {
      const id = await alertBorn();
      const press = (userId: string) =>
        silenceIncident(deps({ pool: small, alertmanager: slowAm }), {
          incidentId: id,
          userId,
          durationMs: HOUR,
          reason: 'noisy',
          requestKey: requestKey(),
        });
      const first = press('U0ALICE');
      first.catch(() => undefined); // awaited below; a failing test must not leave it unhandled
      await waitFor(() => held.length === 1, 10_000, 'the first press to reach Alertmanager');
      const others = ['U0BOB', 'U0CAROL', 'U0DAVE'].map((user) =>
        press(user).then(
          () => 'silenced',
          (err: unknown) => (err instanceof SilenceError ? err.code : String(err)),
        ),
      );
      let settled: string[] | undefined;
      void Promise.all(others).then((codes) => (settled = codes));
      // Before, they waited for the lock, each holding one of the pool's connections, and then for a
      // connection: the webhook and every other command found none.
      await waitFor(() => settled, 10_000, 'the other presses to be answered');
      expect(settled).toEqual(['SILENCE_BUSY', 'SILENCE_BUSY', 'SILENCE_BUSY']);
      expect((await small.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
      // Alertmanager answers at last: the first press sets the one silence.
      held.shift()!.end('[]');
      await waitFor(() => held.length === 1, 10_000, 'the first press to post its silence');
      held.shift()!.end(JSON.stringify({ silenceID: randomUUID() }));
      const silence = await first;
      expect(await activeSilence(pool, id)).toEqual(silence);
      const { rows } = await pool.query(
        'SELECT count(*)::int AS n FROM incident_silences WHERE incident_id = $1',
        [id],
      );
      expect(rows[0].n).toBe(1);
    } finally {
      for (const res of held) res.destroy();
      slow.closeAllConnections();
      slow.close();
      await small.end();
    }
  });

  it('at the end Postgres knows, follows a silence an extension lengthened in Alertmanager before a crash kept it from being recorded', async () => {
    const id = await alertBorn();
    const silence = await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'deploying',
      requestKey: requestKey(),
    });
    // What `/incident extend 2h` by Bob sends, taken by Alertmanager; then the crash, before the commit.
    const { rows } = await pool.query('SELECT marker FROM incident_silences WHERE incident_id = $1', [id]);
    const extendedTo = new Date(silence.endsAt.getTime() + 2 * HOUR);
    const kept = await am().postSilence(
      {
        matchers: silence.matchers,
        startsAt: silence.startsAt,
        endsAt: extendedTo,
        createdBy: 'U0BOB',
        comment: `INC-${id}: deploying [incident-bot ${rows[0].marker}]`,
      },
      silence.silenceId,
    );
    // The end Postgres knows comes (the hour, shortened here).
    await pool.query(
      "UPDATE incident_silences SET ends_at = now() - interval '1 second' WHERE incident_id = $1",
      [id],
    );
    const outcome = await endSilenceIfDue(pool, id, am());
    // Before, it was recorded as ended, the thread saying "Alertmanager notifies these alerts again"
    // and the root dropping 🔕, while Alertmanager held them back two more hours.
    expect(outcome.nextAt).toEqual(extendedTo);
    expect(await activeSilence(pool, id)).toMatchObject({ silenceId: kept, endsAt: extendedTo });
    expect((await am().getSilence(kept)).state).toBe('active');
    const { rows: entries } = await pool.query(
      "SELECT kind, actor FROM timeline_entries WHERE incident_id = $1 AND kind LIKE 'silence%' ORDER BY id",
      [id],
    );
    expect(entries).toEqual([{ kind: 'silence_extended', actor: 'U0BOB' }]);
    // Once that end passes too, it ends.
    await pool.query(
      "UPDATE incident_silences SET ends_at = now() - interval '1 second' WHERE incident_id = $1",
      [id],
    );
    await am().expireSilence(kept);
    expect((await endSilenceIfDue(pool, id, am())).version).toBeGreaterThan(0);
    expect(await activeSilence(pool, id)).toBeUndefined();
  });

  it('extends a silence Alertmanager no longer knows (restarted without its storage) by setting it again', async () => {
    const id = await alertBorn();
    const silence = await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'deploying',
      requestKey: requestKey(),
    });
    // What Alertmanager restarted on an empty volume leaves: Postgres's record, and nothing there.
    const forgotten = randomUUID();
    await am().expireSilence(silence.silenceId);
    await pool.query('UPDATE incident_silences SET silence_id = $2 WHERE incident_id = $1', [id, forgotten]);
    // Before: "Alertmanager did not take it, nothing was changed: Alertmanager does not know that
    // silence", whereas one it still lists as expired is set again.
    const extended = await extendSilence(deps(), {
      incidentId: id,
      userId: 'U0BOB',
      durationMs: HOUR,
      requestKey: requestKey(),
    });
    expect(extended.silenceId).not.toBe(forgotten);
    expect(extended.endsAt).toEqual(new Date(silence.endsAt.getTime() + HOUR));
    expect(await am().getSilence(extended.silenceId)).toMatchObject({
      state: 'active',
      endsAt: extended.endsAt,
      matchers: silence.matchers,
    });
    expect(await activeSilence(pool, id)).toEqual(extended);
  });
});
