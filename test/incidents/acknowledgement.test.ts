import { describe, expect, it } from 'vitest';
import { acknowledgeIncident } from '../../src/incidents/acknowledgement.js';
import { IncidentError } from '../../src/incidents/errors.js';
import { countingPool } from '../support/countingPool.js';
import {
  datedAtOpening,
  lifecycleOnDatabase,
  REOPENED_LATER,
  type recordingEffects,
  whileRowHeld,
} from '../support/incidents.js';
import { waitForLockWaiters } from '../support/services.js';

describe('acknowledging an incident', () => {
  const deps = lifecycleOnDatabase();

  let group = 0;
  /** An open incident an alert opened, or one declared by hand. */
  const incident = async (declaredBy?: string) => {
    const { rows } = await deps().pool.query<{ id: number }>(
      `INSERT INTO incidents (title, severity, channel_id, group_key, declared_by)
       VALUES ('HighLatency', 'P2', 'C0OPS', $1, $2) RETURNING id::int AS id`,
      [declaredBy ? null : `{}:{alertname="HighLatency", n="${group++}"}`, declaredBy ?? null],
    );
    return rows[0]!.id;
  };
  const written = async (id: number, key: string) =>
    (
      await deps().pool.query(
        `SELECT i.version, i.acknowledged_by,
                (SELECT json_agg(json_build_object('kind', kind, 'actor', actor, 'data', data))
                   FROM timeline_entries WHERE incident_id = i.id AND kind = 'incident_acknowledged') AS entries,
                EXISTS (SELECT 1 FROM slack_requests WHERE request_key = $2) AS claimed
           FROM (SELECT 1) AS one LEFT JOIN incidents i ON i.id = $1`,
        [id, key],
      )
    ).rows[0];
  const refused = async (promise: Promise<unknown>) => {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(IncidentError);
    return err as IncidentError;
  };
  const refusal = async (promise: Promise<unknown>) => (await refused(promise)).code;
  /** What the incident's effects were asked, in order. */
  const effectsOn = (id: number) =>
    (deps().effects as ReturnType<typeof recordingEffects>).calls.filter(
      ([, incidentId]) => incidentId === id,
    );

  it('takes the claim, the acknowledgement and its timeline entry in one statement, with no transaction around it', async () => {
    const id = await incident();
    const { pool: counting, sent } = countingPool(deps().pool);
    const acknowledged = await acknowledgeIncident(
      { ...deps(), pool: counting },
      id,
      'U0ALICE',
      'click:ack-1',
    );
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatch(/FOR UPDATE[\s\S]*INSERT INTO slack_requests/);
    expect(acknowledged).toMatchObject({ incidentId: id, ref: `INC-${id}`, version: 2, severity: 'P2' });
    expect(Number.isInteger(acknowledged.afterMs) && acknowledged.afterMs >= 0).toBe(true);
    expect(effectsOn(id)).toEqual([
      ['changed', id, 2],
      ['acknowledged', id],
    ]);
    expect(await written(id, 'click:ack-1')).toEqual({
      version: 2,
      acknowledged_by: 'U0ALICE',
      entries: [{ kind: 'incident_acknowledged', actor: 'U0ALICE', data: { afterMs: acknowledged.afterMs } }],
      claimed: true,
    });
  });

  it('does a replayed click once', async () => {
    const id = await incident();
    await acknowledgeIncident(deps(), id, 'U0ALICE', 'click:ack-twice');
    expect(await refusal(acknowledgeIncident(deps(), id, 'U0ALICE', 'click:ack-twice'))).toBe(
      'ALREADY_HANDLED',
    );
    expect((await written(id, 'click:ack-twice')).entries).toHaveLength(1);
  });

  it('refuses an incident declared by hand, resolved, acknowledged already or missing, and keeps nothing of it', async () => {
    const declared = await incident('U0BOB');
    const resolved = await incident();
    await deps().pool.query("UPDATE incidents SET state = 'resolved', resolved_at = now() WHERE id = $1", [
      resolved,
    ]);
    const taken = await incident();
    await acknowledgeIncident(deps(), taken, 'U0BOB', 'click:ack-bob');
    const cases: Array<[number, string]> = [
      [declared, 'NOT_ALERT_BORN'],
      [resolved, 'ALREADY_RESOLVED'],
      [taken, 'ALREADY_ACKNOWLEDGED'],
      [999_999, 'INCIDENT_NOT_FOUND'],
    ];
    const effects = effectsOn(taken).length;
    for (const [id, code] of cases) {
      const key = `click:refused-${id}`;
      const before = await written(id, key);
      expect(await refusal(acknowledgeIncident(deps(), id, 'U0ALICE', key)), code).toBe(code);
      expect(await written(id, key), code).toEqual(before);
      // The key was given back: the same click, tried again, is told the same.
      expect(await refusal(acknowledgeIncident(deps(), id, 'U0ALICE', key)), code).toBe(code);
    }
    expect((await refused(acknowledgeIncident(deps(), taken, 'U0ALICE', 'click:named'))).message).toMatch(
      new RegExp(`^<@U0BOB> acknowledged INC-${taken} already, <!date\\^`),
    );
    expect(effectsOn(taken)).toHaveLength(effects);
  });

  it('is never acknowledged before it opened, when an alert reopened it after the click began', async () => {
    const id = await incident();
    // The reopening commits once the click waits for the row, and opens it later than the click's start.
    const click = await whileRowHeld(deps().pool, id, REOPENED_LATER, () =>
      acknowledgeIncident(deps(), id, 'U0ALICE', 'click:reopened'),
    );
    expect(click).toMatchObject({ afterMs: 0 });
    // Its entry too, after the reopening's, not before it.
    expect(await datedAtOpening(deps().pool, id, 'acknowledged_at', 'incident_acknowledged')).toBe(true);
  });

  it('acknowledges once when two click at once behind a change holding the row, as the row then is', async () => {
    const id = await incident();
    const holder = await deps().pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query("UPDATE incidents SET severity = 'P1', version = version + 1 WHERE id = $1", [id]);
      const clicks = [
        acknowledgeIncident(deps(), id, 'U0ALICE', 'click:race-alice'),
        acknowledgeIncident(deps(), id, 'U0BOB', 'click:race-bob'),
      ];
      for (const click of clicks) click.catch(() => undefined); // settled below
      await waitForLockWaiters(deps().pool, 2, 'both clicks to wait for the row');
      await holder.query('COMMIT');
      const [alice, bob] = (await Promise.allSettled(clicks)) as [
        PromiseSettledResult<unknown>,
        PromiseSettledResult<unknown>,
      ];
      const won = [alice, bob].filter((c) => c.status === 'fulfilled');
      expect(won).toHaveLength(1);
      expect(won[0]).toMatchObject({ value: { version: 3, severity: 'P1' } });
      const winner = alice.status === 'fulfilled' ? 'U0ALICE' : 'U0BOB';
      const lost = [alice, bob].find((c) => c.status === 'rejected') as PromiseRejectedResult;
      expect(lost.reason).toMatchObject({ code: 'ALREADY_ACKNOWLEDGED' });
      expect(String(lost.reason.message)).toMatch(new RegExp(`^<@${winner}> acknowledged`));
      const key = winner === 'U0ALICE' ? 'click:race-bob' : 'click:race-alice';
      expect(await written(id, key)).toMatchObject({ version: 3, acknowledged_by: winner, claimed: false });
      expect((await written(id, key)).entries).toHaveLength(1);
    } finally {
      holder.release();
    }
  });

  it('tells a replay that waited for the row behind its twin that the click was handled', async () => {
    const id = await incident();
    const holder = await deps().pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT 1 FROM incidents WHERE id = $1 FOR UPDATE', [id]);
      const twice = [1, 2].map(() =>
        acknowledgeIncident(deps(), id, 'U0ALICE', 'click:twin').then(
          (a) => a.version,
          (err: IncidentError) => err.code,
        ),
      );
      await waitForLockWaiters(deps().pool, 2, 'both to wait for the row');
      await holder.query('COMMIT');
      expect((await Promise.all(twice)).sort()).toEqual([2, 'ALREADY_HANDLED']);
    } finally {
      holder.release();
    }
    expect((await written(id, 'click:twin')).entries).toHaveLength(1);
  });
});
