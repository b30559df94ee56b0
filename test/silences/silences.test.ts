import { randomUUID } from 'node:crypto';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { AlertmanagerApi } from '../../src/alertmanager/alertmanagerApi.js';
import { ingestDelivery } from '../../src/alerts/ingest.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import type { Membership } from '../../src/approvals/policy.js';
import { parseFileConfig } from '../../src/config/file.js';
import { migrate } from '../../src/db/migrate.js';
import { inTransaction } from '../../src/db/pool.js';
import { silencedText } from '../../src/listeners/views/silenceForm.js';
import { Metrics } from '../../src/observability/metrics.js';
import {
  activeSilence,
  endSilenceIfDue,
  extendSilence,
  proposeSilence,
  type SilenceDeps,
  SilenceError,
  silenceIncident,
  unsilenceIncident,
} from '../../src/silences/silences.js';
import { payload } from '../support/alertmanager.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { countingPool } from '../support/countingPool.js';
import { answerLostPath } from '../support/lostAnswers.js';
import { createTestDatabase, type TestDatabase, unusedPort, waitFor } from '../support/services.js';

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
const nobodyInGroups: Membership = { groupMembers: () => undefined, groupId: () => undefined };
const metrics = new Metrics();
/** How many changes of this kind incident_bot_silences_total has counted so far. */
const counted = async (change: 'set' | 'extended' | 'lifted') =>
  (await metrics.silences.get()).values.find((v) => v.labels.change === change)?.value ?? 0;

let key = 0;
const requestKey = () => `test:${Date.now()}:${key++}`;

async function rejection(promise: Promise<unknown>): Promise<SilenceError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SilenceError);
  return err as SilenceError;
}

describeWithAlertmanager('silences, against a real Alertmanager and PostgreSQL', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let cluster: AlertmanagerCluster;
  let refusing: Server;
  let refusingUrl: string;
  let closedUrl: string;
  const changed: Array<[number, number]> = [];
  const ends: Array<[number, Date]> = [];
  /** Servers a test started, closed at the end. */
  const servers: Server[] = [];
  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url });
    await migrate(pool);
    const nowhere = `http://127.0.0.1:${await unusedPort()}/alertmanager`;
    cluster = await startAlertmanagerCluster({ webhookUrls: [nowhere], token: 'x'.repeat(32) });
    // An Alertmanager that refuses every silence, as one does a bad one.
    refusing = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify('silence invalid: <b>no</b> & never'));
    });
    await new Promise<void>((resolve) => refusing.listen(0, '127.0.0.1', resolve));
    refusingUrl = `http://127.0.0.1:${(refusing.address() as AddressInfo).port}/`;
    closedUrl = `http://127.0.0.1:${await unusedPort()}/`;
  }, 60_000);
  afterAll(async () => {
    for (const server of servers) {
      server.closeAllConnections();
      server.close();
    }
    await cluster?.stop();
    refusing?.close();
    await pool?.end();
    await database?.drop();
  });

  const amUrl = () => `${cluster.peers[0]!.url}/`;
  const deps = (overrides: Partial<SilenceDeps> = {}): SilenceDeps => ({
    pool,
    silencesPool: pool,
    alertmanager: new AlertmanagerApi([amUrl()], undefined, 2_000),
    config: { silences: { maxDuration: WEEK } },
    membership: nobodyInGroups,
    effects: {
      changed: async (id, version) => void changed.push([id, version]),
      silenceEnds: async (id, at) => void ends.push([id, at]),
    },
    metrics,
    ...overrides,
  });

  let service = 0;
  /** An alert-born incident of its own service, so that no two tests' silences overlap. */
  async function alertBorn(): Promise<{ id: number; service: string }> {
    const name = `svc-${Date.now()}-${service++}`;
    const { rows } = await pool.query(
      `INSERT INTO incidents (title, severity, channel_id, group_key, group_labels, common_labels)
       VALUES ('HighLatency', 'P1', 'C0PAYMENTS', $1, $2, $3) RETURNING id::int AS id`,
      [
        `{}:{alertname="HighLatency", service="${name}"}`,
        { alertname: 'HighLatency', service: name },
        { alertname: 'HighLatency', service: name, severity: 'critical' },
      ],
    );
    return { id: rows[0].id, service: name };
  }
  const counts = async () =>
    (
      await pool.query(
        `SELECT (SELECT count(*) FROM incident_silences)::int AS silences,
                (SELECT count(*) FROM silence_attempts)::int AS attempts,
                (SELECT count(*) FROM timeline_entries)::int AS entries,
                (SELECT coalesce(sum(version), 0) FROM incidents)::int AS versions`,
      )
    ).rows[0];
  const attemptsOf = async (incidentId: number) =>
    (await pool.query('SELECT marker FROM silence_attempts WHERE incident_id = $1', [incidentId])).rows;
  const silencesInAlertmanager = async (incidentId: number) =>
    (await new AlertmanagerApi([amUrl()], undefined, 2_000).listSilences()).filter((s) =>
      s.comment.startsWith(`INC-${incidentId}: `),
    );

  it('claims the request and tries the lock in one statement, then reads the incident and its silence in one', async () => {
    const { id } = await alertBorn();
    const { pool: counting, sent } = countingPool(pool);
    const on = deps({ silencesPool: counting });
    await silenceIncident(on, {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'counting',
      requestKey: requestKey(),
    });
    await unsilenceIncident(on, { incidentId: id, userId: 'U0ALICE', requestKey: requestKey() });
    // Each: BEGIN, the claim and the lock, the read, what it records, its timeline entry with the version, COMMIT.
    expect(sent).toHaveLength(12);
    for (const start of [0, 6]) {
      expect(sent[start + 1]).toMatch(/slack_requests[\s\S]*pg_try_advisory_xact_lock/);
      expect(sent[start + 2]).toMatch(/FROM incidents i WHERE id = \$1/);
      expect(sent[start + 4]).toMatch(/INSERT INTO timeline_entries[\s\S]*UPDATE incidents SET version/);
    }
  });

  it('silences with the group labels as equality matchers, and records it', async () => {
    const { id, service: name } = await alertBorn();
    const silence = await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: 2 * HOUR,
      reason: 'deploying the fix',
      requestKey: requestKey(),
    });
    expect(silence.matchers).toEqual([
      { name: 'alertname', value: 'HighLatency' },
      { name: 'service', value: name },
    ]);
    const [inAm] = await silencesInAlertmanager(id);
    expect(inAm).toMatchObject({ id: silence.silenceId, state: 'active', createdBy: 'U0ALICE' });
    expect(inAm!.comment).toMatch(
      new RegExp(`^INC-${id}: deploying the fix \\[incident-bot s-[0-9a-f-]{36}\\]$`),
    );
    expect(await activeSilence(pool, id)).toEqual(silence);
    expect(ends.at(-1)).toEqual([id, silence.endsAt]);
  });

  it('makes one silence when two people press Silence at once', async () => {
    const { id } = await alertBorn();
    const press = (userId: string) =>
      silenceIncident(deps(), {
        incidentId: id,
        userId,
        durationMs: HOUR,
        reason: 'noisy',
        requestKey: requestKey(),
      });
    const set = await counted('set');
    const outcomes = await Promise.allSettled([press('U0ALICE'), press('U0BOB')]);
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(1);
    expect(await counted('set')).toBe(set + 1);
    const refused = (outcomes.find((o) => o.status === 'rejected') as PromiseRejectedResult)
      .reason as SilenceError;
    // Told it is silenced, or, while the first still waits on Alertmanager, that it is being silenced.
    expect(refused.message).toMatch(
      refused.code === 'SILENCE_BUSY' ? /is being changed right now/ : /already silenced until <!date\^\d+\^/,
    );
    expect(['ALREADY_SILENCED', 'SILENCE_BUSY']).toContain(refused.code);
    expect(await silencesInAlertmanager(id)).toHaveLength(1);
  });

  it('takes over a silence Alertmanager holds but a crash kept from being recorded, instead of setting a second', async () => {
    const { id } = await alertBorn();
    const silence = (userId: string, silencesPool: SilenceDeps['silencesPool']) =>
      silenceIncident(deps({ silencesPool }), {
        incidentId: id,
        userId,
        durationMs: 2 * HOUR,
        reason: 'rolling back',
        requestKey: requestKey(),
      });
    // Alertmanager takes Bob's silence, then the connection is lost before it is recorded.
    const { pool: cut } = countingPool(pool, /INSERT INTO incident_silences/);
    await expect(silence('U0BOB', cut)).rejects.toThrow('Connection terminated');
    const [orphan] = await silencesInAlertmanager(id);
    expect(await activeSilence(pool, id)).toBeUndefined();
    // The same silence, kept by its id, now Alice's press (its author, as she asked it).
    expect(await silence('U0ALICE', pool)).toMatchObject({ silenceId: orphan!.id, silencedBy: 'U0ALICE' });
    expect(await silencesInAlertmanager(id)).toHaveLength(1);
    // Taken over, it leaves no attempt behind: the next press lists nothing.
    expect(await attemptsOf(id)).toEqual([]);
  });

  it('asks Alertmanager nothing when its attempt could not be recorded', async () => {
    const { id } = await alertBorn();
    const { pool: cut } = countingPool(pool, /INSERT INTO silence_attempts/);
    await expect(
      silenceIncident(deps({ pool: cut }), {
        incidentId: id,
        userId: 'U0ALICE',
        durationMs: HOUR,
        reason: 'quiet',
        requestKey: requestKey(),
      }),
    ).rejects.toThrow('Connection terminated');
    expect(await silencesInAlertmanager(id)).toEqual([]);
  });

  /** An API to the test's Alertmanager that counts the times it read Alertmanager's whole list. */
  function listCounting() {
    const counter = { alertmanager: new AlertmanagerApi([amUrl()], undefined, 2_000), lists: 0 };
    const listSilences = counter.alertmanager.listSilences.bind(counter.alertmanager);
    counter.alertmanager.listSilences = () => {
      counter.lists++;
      return listSilences();
    };
    return counter;
  }

  it("lists Alertmanager's silences only after an attempt was left behind", async () => {
    const { id } = await alertBorn();
    const counter = listCounting();
    const { alertmanager } = counter;
    const input = { incidentId: id, userId: 'U0ALICE', durationMs: HOUR, reason: 'quiet' };
    await silenceIncident(deps({ alertmanager }), { ...input, requestKey: requestKey() });
    await extendSilence(deps({ alertmanager }), { ...input, requestKey: requestKey() });
    await unsilenceIncident(deps({ alertmanager }), { ...input, requestKey: requestKey() });
    // Before: extending and lifting each read every silence Alertmanager held, every team's, expired ones
    // too, while holding the incident's silence lock; the recorded one, read by its id, is enough.
    expect(counter.lists).toBe(0);
    expect(await silencesInAlertmanager(id)).toMatchObject([{ state: 'expired' }]);
    expect(await attemptsOf(id)).toEqual([]);
    counter.lists = 0;
    // Refused by Alertmanager: the attempt stays, and the next press looks for what it may have left.
    await expect(
      silenceIncident(deps({ alertmanager: new AlertmanagerApi([refusingUrl], undefined, 2_000) }), {
        ...input,
        requestKey: requestKey(),
      }),
    ).rejects.toThrow(SilenceError);
    await silenceIncident(deps({ alertmanager }), { ...input, requestKey: requestKey() });
    expect(counter.lists).toBe(1);
  });

  it('extends from the current end, capped at maxDuration from now, and follows a replaced id', async () => {
    const { id } = await alertBorn();
    const first = await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'flapping',
      requestKey: requestKey(),
    });
    const extensions = await counted('extended');
    const extended = await extendSilence(deps(), {
      incidentId: id,
      userId: 'U0BOB',
      durationMs: 2 * HOUR,
      requestKey: requestKey(),
    });
    expect(extended.endsAt.getTime()).toBe(first.endsAt.getTime() + 2 * HOUR);
    expect(await counted('extended')).toBe(extensions + 1);
    expect(await activeSilence(pool, id)).toEqual(extended);
    const am = new AlertmanagerApi([amUrl()], undefined, 2_000);
    expect(await am.getSilence(extended.silenceId)).toMatchObject({
      state: 'active',
      endsAt: extended.endsAt,
    });
    if (extended.silenceId !== first.silenceId)
      expect((await am.getSilence(first.silenceId)).state).toBe('expired');
    const capped = await extendSilence(deps({ config: { silences: { maxDuration: 4 * HOUR } } }), {
      incidentId: id,
      userId: 'U0BOB',
      durationMs: 4 * HOUR,
      requestKey: requestKey(),
    });
    expect(capped.endsAt.getTime()).toBeLessThanOrEqual(Date.now() + 4 * HOUR);
    expect(capped.endsAt.getTime()).toBeGreaterThan(Date.now() + 3 * HOUR);
  });

  it('unsilences: expired in Alertmanager; already expired there counts as done', async () => {
    const { id } = await alertBorn();
    const silence = await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'maintenance',
      requestKey: requestKey(),
    });
    const am = new AlertmanagerApi([amUrl()], undefined, 2_000);
    await am.expireSilence(silence.silenceId); // someone lifted it in Alertmanager's UI meanwhile
    const lifted = await counted('lifted');
    await unsilenceIncident(deps(), { incidentId: id, userId: 'U0BOB', requestKey: requestKey() });
    expect(await counted('lifted')).toBe(lifted + 1);
    expect(await activeSilence(pool, id)).toBeUndefined();
    expect((await am.getSilence(silence.silenceId)).state).toBe('expired');
    const { rows } = await pool.query(
      "SELECT kind, actor FROM timeline_entries WHERE incident_id = $1 AND kind LIKE '%silence%' ORDER BY id",
      [id],
    );
    expect(rows).toEqual([
      { kind: 'incident_silenced', actor: 'U0ALICE' },
      { kind: 'incident_unsilenced', actor: 'U0BOB' },
    ]);
    expect(
      (
        await rejection(
          unsilenceIncident(deps(), { incidentId: id, userId: 'U0BOB', requestKey: requestKey() }),
        )
      ).code,
    ).toBe('NOT_SILENCED');
    expect(await counted('lifted')).toBe(lifted + 1);
  });

  it('records once that a silence ran out, and not before', async () => {
    const { id } = await alertBorn();
    await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'x',
      requestKey: requestKey(),
    });
    expect((await endSilenceIfDue(pool, id, metrics)).nextAt).toBeInstanceOf(Date);
    await pool.query(
      "UPDATE incident_silences SET ends_at = now() - interval '1 second' WHERE incident_id = $1",
      [id],
    );
    expect((await endSilenceIfDue(pool, id, metrics)).version).toBeGreaterThan(0);
    expect(await endSilenceIfDue(pool, id, metrics)).toEqual({});
    const { rows } = await pool.query(
      "SELECT count(*)::int AS n FROM timeline_entries WHERE incident_id = $1 AND kind = 'silence_ended'",
      [id],
    );
    expect(rows[0].n).toBe(1);
  });

  it('refuses bad input, Alertmanager down or refusing, and records nothing but the attempts it asked with', async () => {
    const { id } = await alertBorn();
    // Its own incident: Alertmanager down leaves an attempt, after which the next press lists first.
    const { id: refused } = await alertBorn();
    const { rows } = await pool.query(
      "INSERT INTO incidents (title, severity, channel_id) VALUES ('by hand', 'P2', 'C0X') RETURNING id::int AS id",
    );
    const declared = rows[0].id as number;
    const { rows: bare } = await pool.query(
      "INSERT INTO incidents (title, severity, channel_id, group_key) VALUES ('no labels', 'P2', 'C0X', '{}:{}') RETURNING id::int AS id",
    );
    const before = await counts();
    const set = await counted('set');
    const input = { incidentId: id, userId: 'U0ALICE', durationMs: HOUR, reason: 'why' };
    const cases: Array<[string, SilenceDeps, Partial<typeof input> & { matchers?: [] }, string, RegExp]> = [
      ['zero', deps(), { durationMs: 0 }, 'BAD_DURATION', /above zero/],
      ['negative', deps(), { durationMs: -HOUR }, 'BAD_DURATION', /above zero/],
      ['too long', deps(), { durationMs: 9999 * 24 * HOUR }, 'BAD_DURATION', /maxDuration/],
      ['no reason', deps(), { reason: '  ' }, 'BAD_REASON', /Say why/],
      ['no matchers', deps(), { matchers: [] }, 'BAD_MATCHERS', /at least one matcher/],
      [
        'no labels to match',
        deps(),
        { incidentId: bare[0].id },
        'BAD_MATCHERS',
        /share no labels that name them alone/,
      ],
      ['declared by hand', deps(), { incidentId: declared }, 'NOT_ALERT_BORN', /declared by hand/],
      [
        'not configured',
        deps({ alertmanager: undefined }),
        {},
        'SILENCES_NOT_CONFIGURED',
        /alertmanager\.urls/,
      ],
      [
        'Alertmanager down',
        deps({ alertmanager: new AlertmanagerApi([closedUrl], undefined, 2_000) }),
        {},
        'ALERTMANAGER_UNREACHABLE',
        /did not answer.*ECONNREFUSED/,
      ],
      [
        'Alertmanager refusing',
        deps({ alertmanager: new AlertmanagerApi([refusingUrl], undefined, 2_000) }),
        { incidentId: refused },
        'ALERTMANAGER_REFUSED',
        /HTTP 400\): silence invalid: &lt;b&gt;no&lt;\/b&gt; &amp; never/,
      ],
    ];
    for (const [what, given, overrides, code, message] of cases) {
      const err = await rejection(
        silenceIncident(given, { ...input, ...overrides, requestKey: requestKey() }),
      );
      expect(err.code, what).toBe(code);
      expect(err.message, what).toMatch(message);
    }
    // Each ask of Alertmanager recorded its attempt first, which stays: it may have taken the silence.
    expect(await counts()).toEqual({ ...before, attempts: before.attempts + 2 });
    expect(await counted('set')).toBe(set);
    expect(await silencesInAlertmanager(id)).toEqual([]);
  });

  it('lets only silencers silence, saying who may, and to try again while a group is unread', async () => {
    const { id } = await alertBorn();
    const input = { incidentId: id, userId: 'U0CAROL', durationMs: HOUR, reason: 'x' };
    const policy = (membership: Membership) =>
      deps({ config: { silences: { maxDuration: WEEK, silencers: ['U0ALICE', 'S0SRE'] } }, membership });
    const refused = await rejection(
      silenceIncident(policy({ groupMembers: () => new Set(['U0BOB']), groupId: (g) => g }), {
        ...input,
        requestKey: requestKey(),
      }),
    );
    expect(refused.code).toBe('NOT_ALLOWED');
    expect(refused.message).toBe('You may not silence alerts. Silencers: <@U0ALICE>, <!subteam^S0SRE>.');
    const unknown = await rejection(
      silenceIncident(policy(nobodyInGroups), { ...input, requestKey: requestKey() }),
    );
    expect(unknown.message).toMatch(/does not know yet who is in S0SRE.*try again/);
    const bob = await silenceIncident(policy({ groupMembers: () => new Set(['U0BOB']), groupId: (g) => g }), {
      ...input,
      userId: 'U0BOB',
      requestKey: requestKey(),
    });
    expect(bob.silencedBy).toBe('U0BOB');
  });

  it('does a replayed request once', async () => {
    const { id } = await alertBorn();
    const again = requestKey();
    const set = await counted('set');
    await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'x',
      requestKey: again,
    });
    await unsilenceIncident(deps(), { incidentId: id, userId: 'U0ALICE', requestKey: requestKey() });
    const replay = await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'x',
      requestKey: again,
    }).then(
      () => 'silenced again',
      (err: Error) => err.message,
    );
    expect(replay).toBe('This request was already handled.');
    expect(await counted('set')).toBe(set + 1);
  });

  // From the review of issue 15.
  /** A POST to Alertmanager's API as its UI makes it, with matchers of any kind. */
  const rawPost = async (base: string, path: string, body: object) => {
    const res = await fetch(`${base}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
    expect(res.status).toBe(200);
    return (await res.json()) as { silenceID: string };
  };
  const am = () => new AlertmanagerApi([amUrl()], undefined, 2_000);
  const aliceSilences = async (incidentId: number, more: Partial<SilenceDeps> = {}) =>
    silenceIncident(deps(more), {
      incidentId,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'deploying',
      requestKey: requestKey(),
    });
  const endPassed = (incidentId: number) =>
    pool.query("UPDATE incident_silences SET ends_at = now() - interval '1 second' WHERE incident_id = $1", [
      incidentId,
    ]);

  it('does not take over a silence whose marker it recorded, as an extension Alertmanager replaced leaves one', async () => {
    const { id, service: name } = await alertBorn();
    const first = await aliceSilences(id);
    const [recorded] = await silencesInAlertmanager(id);
    // Alertmanager took an extension as a new silence, with the same comment, then a crash; the recorded
    // end has passed, and an attempt was left behind.
    const startsAt = new Date();
    await am().postSilence({
      matchers: [{ name: 'service', value: name }],
      startsAt,
      endsAt: new Date(startsAt.getTime() + 2 * HOUR),
      createdBy: 'U0ALICE',
      comment: recorded!.comment,
    });
    await endPassed(id);
    await pool.query("INSERT INTO silence_attempts (marker, incident_id) VALUES ('s-left-behind', $1)", [id]);
    // Before: taken over, its marker refused as recorded already, and every press failed so.
    const next = await aliceSilences(id);
    expect(next.silenceId).not.toBe(first.silenceId);
    expect(await activeSilence(pool, id)).toEqual(next);
  });

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
    // Before, every /incident silence that looked through Alertmanager's silences failed: "Alertmanager
    // does not know that silence". It looks after an attempt left behind.
    const { id } = await alertBorn();
    await pool.query("INSERT INTO silence_attempts (marker, incident_id) VALUES ('s-left-behind', $1)", [id]);
    const silence = await aliceSilences(id);
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
    // Small pools, as the bot's are small next to the presses an incident at 3 a.m. can get: the
    // silences' own, and one of a single client standing for the one the webhook and workers use.
    const small = new pg.Pool({ connectionString: database.url, max: 3, connectionTimeoutMillis: 2_000 });
    const shared = new pg.Pool({ connectionString: database.url, max: 1, connectionTimeoutMillis: 2_000 });
    const pools = { pool: shared, silencesPool: small };
    try {
      const { id } = await alertBorn();
      const first = aliceSilences(id, { ...pools, alertmanager: slowAm });
      first.catch(() => undefined); // awaited below; a failing test must not leave it unhandled
      await waitFor(() => held.length === 1, 10_000, 'the first press to reach Alertmanager');
      let settled: string[] | undefined;
      void Promise.all(
        [1, 2, 3].map(() =>
          aliceSilences(id, { ...pools, alertmanager: slowAm }).then(
            () => 'silenced',
            (err: unknown) => (err instanceof SilenceError ? err.code : String(err)),
          ),
        ),
      ).then((codes) => (settled = codes));
      // Before, they waited for the lock, each holding one of the pool's connections, and then for a
      // connection: the webhook and every other command found none.
      await waitFor(() => settled, 10_000, 'the other presses to be answered');
      expect(settled).toEqual(['SILENCE_BUSY', 'SILENCE_BUSY', 'SILENCE_BUSY']);
      expect((await small.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
      // And the press waiting on Alertmanager holds none of the connections everything else uses.
      expect((await shared.query('SELECT 1 AS ok')).rows[0].ok).toBe(1);
      // Alertmanager answers at last: the first press sets the one silence.
      held.shift()!.end(JSON.stringify({ silenceID: randomUUID() }));
      const silence = await first;
      expect(await activeSilence(pool, id)).toEqual(silence);
    } finally {
      for (const res of held) res.destroy();
      slow.closeAllConnections();
      slow.close();
      await small.end();
      await shared.end();
    }
  });

  it('at the end Postgres knows, follows a silence an extension lengthened in Alertmanager before a crash kept it from being recorded', async () => {
    const { id } = await alertBorn();
    const silence = await aliceSilences(id);
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
    await endPassed(id);
    const extensions = await counted('extended');
    const outcome = await endSilenceIfDue(pool, id, metrics, am());
    expect(await counted('extended')).toBe(extensions + 1);
    // Before, it was recorded as ended, the thread saying "Alertmanager notifies these alerts again"
    // and the root dropping 🔕, while Alertmanager held them back two more hours.
    expect(outcome.nextAt).toEqual(extendedTo);
    expect(await activeSilence(pool, id)).toMatchObject({ silenceId: kept, endsAt: extendedTo });
    const { rows: entries } = await pool.query(
      "SELECT kind, actor FROM timeline_entries WHERE incident_id = $1 AND kind LIKE 'silence%' ORDER BY id",
      [id],
    );
    expect(entries).toEqual([{ kind: 'silence_extended', actor: 'U0BOB' }]);
    // Once that end passes in Alertmanager too, it ends.
    await endPassed(id);
    await am().expireSilence(kept);
    expect((await endSilenceIfDue(pool, id, metrics, am())).version).toBeGreaterThan(0);
    expect(await activeSilence(pool, id)).toBeUndefined();
  });

  it('extends a silence Alertmanager no longer knows (restarted without its storage) by setting it again', async () => {
    const { id } = await alertBorn();
    const silence = await aliceSilences(id);
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
    // An HA peer that kept its storage may gossip the forgotten one back, with its marker: unsilence
    // looks through the list for it still. Before, the extension forgot its attempt, and that one muted on.
    const [running] = await activeIn(id);
    await am().postSilence({ ...running!, endsAt: silence.endsAt });
    await unsilenceIncident(deps(), { incidentId: id, userId: 'U0BOB', requestKey: requestKey() });
    expect(await activeIn(id)).toEqual([]);
  });

  // A silence whose answer is lost on its way back (a bug hunt): Alertmanager may have taken it.
  const losing = async (lose: (method: string, path: string) => boolean, as?: 'reset' | 502) => {
    const path = await answerLostPath(amUrl(), lose, as);
    servers.push(path.server);
    return path;
  };
  const activeIn = async (incidentId: number) =>
    (await silencesInAlertmanager(incidentId)).filter((s) => s.state === 'active');

  it('does not post a silence again to the next peer once one may have taken it: it finds it, and unsilence lifts all', async () => {
    const { id } = await alertBorn();
    const lossy = await losing((method) => method === 'POST');
    const alertmanager = new AlertmanagerApi([lossy.url, amUrl()], undefined, 2_000);
    const silence = await aliceSilences(id, { alertmanager });
    // Before: the POST went to the second peer too, which made a second silence, the one recorded.
    expect((await activeIn(id)).map((s) => s.id)).toEqual([silence.silenceId]);
    expect(await activeSilence(pool, id)).toEqual(silence);
    await unsilenceIncident(deps(), { incidentId: id, userId: 'U0ALICE', requestKey: requestKey() });
    expect(await activeIn(id)).toEqual([]);
  });

  it('records a silence Alertmanager took but whose answer a gateway lost, rather than saying nothing was silenced', async () => {
    const { id } = await alertBorn();
    const lossy = await losing((method) => method === 'POST', 502);
    const silence = await aliceSilences(id, {
      alertmanager: new AlertmanagerApi([lossy.url], undefined, 2_000),
    });
    // Before: "Alertmanager did not answer, nothing was silenced", the alerts silenced all the same.
    expect((await activeIn(id)).map((s) => s.id)).toEqual([silence.silenceId]);
    expect(await activeSilence(pool, id)).toEqual(silence);
    expect(ends.at(-1)).toEqual([id, silence.endsAt]);
    expect(await attemptsOf(id)).toEqual([]);
  });

  it('says a silence may have been taken when neither its answer nor a look for it comes back; the next press takes it up', async () => {
    const { id } = await alertBorn();
    const lossy = await losing(() => true);
    const err = await rejection(
      aliceSilences(id, { alertmanager: new AlertmanagerApi([lossy.url], undefined, 2_000) }),
    );
    expect(err.code).toBe('ALERTMANAGER_OUTCOME_UNKNOWN');
    expect(err.message).toMatch(
      /^Alertmanager may have taken it, but its answer was lost \(127\.0\.0\.1:\d+: UND_ERR_SOCKET\), and it could not be found there yet/,
    );
    expect(err.message).not.toMatch(/nothing was/);
    const [taken] = await activeIn(id);
    expect(await activeSilence(pool, id)).toBeUndefined();
    // Its attempt stays: the next press finds the silence rather than setting a second.
    expect((await aliceSilences(id)).silenceId).toBe(taken!.id);
    expect(await activeIn(id)).toHaveLength(1);
  });

  /**
   * What Alertmanager runs beside the recorded silence after lost answers: the silence an update
   * replaced it with (other matchers or start make Alertmanager expire it and give a new id) whose
   * record was lost, ending 2 h later, and a second copy with the same comment. Postgres knows neither.
   */
  async function copiesLeftBehind(
    silence: { silenceId: string; matchers: Array<{ name: string; value: string }> },
    id: number,
  ) {
    const [recorded] = await silencesInAlertmanager(id);
    const startsAt = new Date();
    const replacement = await am().postSilence(
      {
        matchers: silence.matchers,
        startsAt: new Date(startsAt.getTime() - 5_000),
        endsAt: new Date(recorded!.endsAt.getTime() + 2 * HOUR),
        createdBy: 'U0BOB',
        comment: recorded!.comment,
      },
      silence.silenceId,
    );
    const copy = await am().postSilence({
      matchers: silence.matchers,
      startsAt,
      endsAt: recorded!.endsAt,
      createdBy: 'U0ALICE',
      comment: recorded!.comment,
    });
    expect((await activeIn(id)).map((s) => s.id).sort()).toEqual([replacement, copy].sort());
    return { replacement, copy, replacementEndsAt: new Date(recorded!.endsAt.getTime() + 2 * HOUR) };
  }

  it("unsilence lifts every silence with the incident's marker, not only the one Postgres recorded", async () => {
    const { id } = await alertBorn();
    const silence = await aliceSilences(id);
    await copiesLeftBehind(silence, id);
    await unsilenceIncident(deps(), { incidentId: id, userId: 'U0CAROL', requestKey: requestKey() });
    expect(await activeSilence(pool, id)).toBeUndefined();
    // Before: it expired the recorded id, expired already, said "lifted", and both muted on.
    expect(await activeIn(id)).toEqual([]);
  });

  it("extends the silence Alertmanager runs with the incident's marker, keeping its id and start, and lifts copies", async () => {
    const { id } = await alertBorn();
    const silence = await aliceSilences(id);
    // Postgres's start is the bot's clock; Alertmanager's, its own when it took the silence.
    await pool.query(
      "UPDATE incident_silences SET starts_at = starts_at - interval '5 seconds' WHERE incident_id = $1",
      [id],
    );
    const extend = () =>
      extendSilence(deps(), { incidentId: id, userId: 'U0BOB', durationMs: HOUR, requestKey: requestKey() });
    // Before: sent with Postgres's start, the update was a new silence with a new id.
    expect((await extend()).silenceId).toBe(silence.silenceId);
    const { replacement, replacementEndsAt } = await copiesLeftBehind(silence, id);
    const extended = await extend();
    // Before: the update went to the recorded id, expired, and made a third silence; the other two ran on.
    expect(extended).toMatchObject({
      silenceId: replacement,
      endsAt: new Date(replacementEndsAt.getTime() + HOUR),
    });
    expect((await activeIn(id)).map((s) => [s.id, s.endsAt])).toEqual([[replacement, extended.endsAt]]);
    expect(await activeSilence(pool, id)).toEqual(extended);
  });

  it("extends the silence as someone narrowed it in Alertmanager's UI, not back to the bot's matchers", async () => {
    const { id, service: name } = await alertBorn();
    await aliceSilences(id);
    const [recorded] = await silencesInAlertmanager(id);
    // Carol narrows it in Alertmanager's UI to one host by a regex: Alertmanager expires the silence and
    // makes another with her matchers and the same comment (its marker).
    const narrowed = [
      { name: 'alertname', value: 'HighLatency', isRegex: false, isEqual: true },
      { name: 'service', value: name, isRegex: false, isEqual: true },
      { name: 'instance', value: 'host-1.*', isRegex: true, isEqual: true },
    ];
    const edit = await rawPost(amUrl(), 'api/v2/silences', {
      id: recorded!.id,
      matchers: narrowed,
      startsAt: recorded!.startsAt.toISOString(),
      endsAt: recorded!.endsAt.toISOString(),
      createdBy: 'U0CAROL',
      comment: recorded!.comment,
    });
    expect(edit.silenceID).not.toBe(recorded!.id);
    const extended = await extendSilence(deps(), {
      incidentId: id,
      userId: 'U0BOB',
      durationMs: HOUR,
      requestKey: requestKey(),
    });
    // Before: sent with the bot's two matchers, the extension silenced every host of the service again.
    const [active, ...others] = await activeIn(id);
    expect(others).toEqual([]);
    expect(active).toMatchObject({ id: extended.silenceId, endsAt: extended.endsAt });
    expect(active!.matchers).toEqual(narrowed);
    // And so recorded and told: Bob reads what Alertmanager runs, regex shown as one.
    expect(extended.matchers).toEqual(narrowed);
    expect(await activeSilence(pool, id)).toEqual(extended);
    expect(silencedText(extended, true)).toContain(
      `alertname="HighLatency", service="${name}", instance=~"host-1.*"`,
    );
  });

  it("after an extension's lost answer, lists Alertmanager's silences until the silence ends, lifting copies beside the recorded one", async () => {
    const { id } = await alertBorn();
    const silence = await aliceSilences(id);
    const extend = (alertmanager: AlertmanagerApi) =>
      extendSilence(deps({ alertmanager }), {
        incidentId: id,
        userId: 'U0BOB',
        durationMs: HOUR,
        requestKey: requestKey(),
      });
    // The extension's answer is lost, and so are the looks for it in the list: Alertmanager took it.
    const lossy = await losing((method, path) => method === 'POST' || path === '/api/v2/silences');
    const lost = await rejection(extend(new AlertmanagerApi([lossy.url], undefined, 2_000)));
    expect(lost.code).toBe('ALERTMANAGER_OUTCOME_UNKNOWN');
    expect(await activeSilence(pool, id)).toEqual(silence);
    expect(await attemptsOf(id)).toHaveLength(1);
    // What HA peers that drifted apart meanwhile may leave: a second silence with its comment, beside it.
    const copyOf = async () => {
      const [recorded] = await activeIn(id);
      return am().postSilence({ ...recorded!, startsAt: new Date(), createdBy: 'U0BOB' });
    };
    await copyOf();
    const counter = listCounting();
    const extended = await extend(counter.alertmanager);
    // From the end Alertmanager took, the copy lifted.
    expect(extended).toMatchObject({
      silenceId: silence.silenceId,
      endsAt: new Date(silence.endsAt.getTime() + 2 * HOUR),
    });
    expect((await activeIn(id)).map((s) => s.id)).toEqual([silence.silenceId]);
    // Another surfaces later (a peer rejoining): unsilence, too, still looks through the list.
    await copyOf();
    await unsilenceIncident(deps({ alertmanager: counter.alertmanager }), {
      incidentId: id,
      userId: 'U0BOB',
      requestKey: requestKey(),
    });
    expect(counter.lists).toBe(2);
    expect(await activeIn(id)).toEqual([]);
    // The silence ended, its attempt goes: the next silence of the incident need not list.
    expect(await attemptsOf(id)).toEqual([]);
  });

  it('unsilence does not record a silence lifted when its silence, or the copies with its marker, cannot be read', async () => {
    const { id } = await alertBorn();
    const silence = await aliceSilences(id);
    const unsilence = async (lose: (method: string, path: string) => boolean) => {
      const lossy = await losing(lose);
      const err = await rejection(
        unsilenceIncident(deps({ alertmanager: new AlertmanagerApi([lossy.url], undefined, 2_000) }), {
          incidentId: id,
          userId: 'U0ALICE',
          requestKey: requestKey(),
        }),
      );
      expect(err.code).toBe('ALERTMANAGER_UNREACHABLE');
      // Before: "Alertmanager did not answer, nothing was silenced", of a silence that stays in effect.
      expect(err.message).toMatch(/^Alertmanager did not answer, the silence was not lifted: /);
      expect(await activeSilence(pool, id)).toEqual(silence);
    };
    const listLost = (method: string, path: string) => method === 'GET' && path === '/api/v2/silences';
    // Its silence read by id: that read fails.
    await unsilence((method) => method === 'GET');
    // Its silence read by id has expired (lifted in Alertmanager's UI, or replaced): the list is lost.
    const [recorded] = await activeIn(id);
    await am().expireSilence(recorded!.id);
    await unsilence(listLost);
    // With an attempt left, only the list is read, and it is lost.
    await pool.query('INSERT INTO silence_attempts (marker, incident_id) VALUES ($1, $2)', [
      `left-${id}`,
      id,
    ]);
    await unsilence(listLost);
  });

  it('says an extension Alertmanager did not answer was not made, not that nothing was silenced', async () => {
    const { id } = await alertBorn();
    const silence = await aliceSilences(id);
    const err = await rejection(
      extendSilence(deps({ alertmanager: new AlertmanagerApi([closedUrl], undefined, 2_000) }), {
        incidentId: id,
        userId: 'U0ALICE',
        durationMs: HOUR,
        requestKey: requestKey(),
      }),
    );
    expect(err.code).toBe('ALERTMANAGER_UNREACHABLE');
    expect(err.message).toMatch(/^Alertmanager did not answer, the silence was not extended: .*ECONNREFUSED/);
    expect(await activeSilence(pool, id)).toEqual(silence);
  });

  it("unsilence takes a proxy's 404 page in front of one peer for that peer failing, and lifts it through the next", async () => {
    const { id } = await alertBorn();
    await aliceSilences(id);
    const ingress = createServer((req, res) => {
      req.resume();
      res
        .writeHead(404, { 'content-type': 'text/html' })
        .end('<html><body>default backend - 404</body></html>');
    });
    await new Promise<void>((resolve) => ingress.listen(0, '127.0.0.1', resolve));
    servers.push(ingress);
    const ingressUrl = `http://127.0.0.1:${(ingress.address() as AddressInfo).port}/`;
    await unsilenceIncident(
      deps({ alertmanager: new AlertmanagerApi([ingressUrl, amUrl()], undefined, 2_000) }),
      {
        incidentId: id,
        userId: 'U0ALICE',
        requestKey: requestKey(),
      },
    );
    expect(await activeSilence(pool, id)).toBeUndefined();
    expect(await activeIn(id)).toEqual([]);
  });

  it('a press after a lost answer, with the same matchers, makes the silence left its own: its end, reason and author', async () => {
    const { id } = await alertBorn();
    const lossy = await losing(() => true);
    const bobs = silenceIncident(deps({ alertmanager: new AlertmanagerApi([lossy.url], undefined, 2_000) }), {
      incidentId: id,
      userId: 'U0BOB',
      durationMs: 24 * HOUR,
      reason: 'noisy all day',
      requestKey: requestKey(),
    });
    expect((await rejection(bobs)).code).toBe('ALERTMANAGER_OUTCOME_UNKNOWN');
    const before = Date.now();
    // Alice's press: the form unedited (the same proposed matchers), for an hour.
    const silence = await aliceSilences(id);
    const running = await activeIn(id);
    // Before: Bob's day-long silence was recorded as Alice's press, and muted on for a day.
    expect({
      by: silence.silencedBy,
      reason: silence.reason,
      endsWithinAnHour: silence.endsAt.getTime() <= before + HOUR + 60_000,
      running: running.map((s) => ({ id: s.id, withinAnHour: s.endsAt.getTime() <= before + HOUR + 60_000 })),
    }).toEqual({
      by: 'U0ALICE',
      reason: 'deploying',
      endsWithinAnHour: true,
      running: [{ id: silence.silenceId, withinAnHour: true }],
    });
  });

  it('a press after a lost answer sets what it asks for, not the silence the earlier press left, which it lifts', async () => {
    const { id, service: name } = await alertBorn();
    const lossy = await losing(() => true);
    const bobs = silenceIncident(deps({ alertmanager: new AlertmanagerApi([lossy.url], undefined, 2_000) }), {
      incidentId: id,
      userId: 'U0BOB',
      durationMs: 24 * HOUR,
      reason: 'noisy',
      matchers: [{ name: 'alertname', value: 'HighLatency' }],
      requestKey: requestKey(),
    });
    expect((await rejection(bobs)).code).toBe('ALERTMANAGER_OUTCOME_UNKNOWN');
    const [left] = await activeIn(id);
    const asked = [
      { name: 'alertname', value: 'HighLatency' },
      { name: 'instance', value: 'pay-1' },
      { name: 'service', value: name },
    ];
    const silence = await silenceIncident(deps(), {
      incidentId: id,
      userId: 'U0ALICE',
      durationMs: HOUR,
      reason: 'one box',
      matchers: asked,
      requestKey: requestKey(),
    });
    // Before: Bob's silence of HighLatency everywhere for a day was taken as Alice's, and it stayed so.
    expect({ matchers: silence.matchers, by: silence.silencedBy }).toEqual({
      matchers: asked,
      by: 'U0ALICE',
    });
    expect((await activeIn(id)).map((s) => s.id)).toEqual([silence.silenceId]);
    expect((await am().getSilence(left!.id)).state).toBe('expired');
  });

  it("proposes, and silences, the labels all the incident's alerts share now, not those of its first notification", async () => {
    // A route grouping by alertname alone: its first notification had one alert, so its instance looked
    // common to all; the next had two.
    const group = `DiskFull${Date.now()}`;
    const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');
    const ingest = (given: ReturnType<typeof payload>) =>
      inTransaction(pool, (c) => ingestDelivery(c, config, WebhookPayloadSchema.parse(given)));
    const { incident } = await ingest(
      payload({ group, alerts: [{ name: group, instance: 'db-1' }], commonLabels: { instance: 'db-1' } }),
    );
    await ingest(
      payload({
        group,
        alerts: [
          { name: group, instance: 'db-1' },
          { name: group, instance: 'db-2' },
        ],
      }),
    );
    const shared = [
      { name: 'alertname', value: group },
      { name: 'service', value: 'payments-api' },
      { name: 'severity', value: 'critical' },
    ];
    const id = incident!.id;
    // Before: instance="db-1" was proposed and set, and db-2 paged on.
    expect(await proposeSilence(deps(), { incidentId: id, userId: 'U0ALICE' })).toEqual({
      groupLabels: { alertname: group },
      proposed: { matchers: shared, source: 'commonLabels' },
    });
    expect((await aliceSilences(id)).matchers).toEqual(shared);
  });

  it('keeps to its first notification when what its alerts share now would name far more than it', async () => {
    // A route without group_by: its alerts of two alertnames and services share severity alone, which
    // would mute every critical alert everywhere.
    const tag = `${Date.now()}`;
    const config = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');
    const ingest = (alerts: Parameters<typeof payload>[0]['alerts'], commonLabels: Record<string, string>) =>
      inTransaction(pool, (c) =>
        ingestDelivery(
          c,
          config,
          WebhookPayloadSchema.parse({
            ...payload({ group: 'x', alerts }),
            groupKey: `{}/{team="t${tag}"}:{}`,
            groupLabels: {},
            commonLabels,
          }),
        ),
      );
    const diskFull = { name: `DiskFull${tag}`, instance: 'db-1' };
    const first = {
      alertname: `DiskFull${tag}`,
      instance: 'db-1',
      service: 'payments-api',
      severity: 'critical',
    };
    const { incident } = await ingest([diskFull], first);
    await ingest([diskFull, { name: 'HighLatency', instance: 'web-1', labels: { service: 'checkout' } }], {
      severity: 'critical',
    });
    const { proposed } = await proposeSilence(deps(), { incidentId: incident!.id, userId: 'U0ALICE' });
    // Narrower than the incident (its first alert), never broader: severity="critical" was proposed before.
    expect(proposed.matchers).toEqual(Object.entries(first).map(([name, value]) => ({ name, value })));
  });
});
