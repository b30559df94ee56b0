import { describe, expect, it } from 'vitest';
import { parseFileConfig } from '../../src/config/file.js';
import { acknowledgeIncident } from '../../src/incidents/acknowledgement.js';
import {
  changeSeverity,
  declareIncident,
  type LifecycleDeps,
  postStatusUpdate,
  resolveIncident,
} from '../../src/incidents/lifecycle.js';
import { migratedDatabase } from '../support/database.js';
import { recordingEffects } from '../support/incidents.js';

/**
 * A change's effects are queue jobs, asked for before the person is answered: all at once, so that the
 * answer waits for one round trip to Redis rather than one each, and a failed one (Redis going away
 * midway) does not keep the others from being asked.
 */
describe("a change's effects", () => {
  const pool = migratedDatabase();
  const config = parseFileConfig(
    'test',
    [
      'slack: { defaultChannel: C0DEFAULT1 }',
      'incidents: { updateIntervals: { P2: 30m }, commanderReminderAfter: 10m, postmortemOnResolve: true }',
    ].join('\n'),
  );
  /** Effects whose `changed` fails, as a queue gone away would. */
  const failingChange = () => {
    const effects = recordingEffects();
    const changed = effects.changed;
    effects.changed = async (...args) => {
      await changed(...args);
      throw new Error('the job queue is not answering');
    };
    return effects;
  };
  const asked = (effects: ReturnType<typeof recordingEffects>) => effects.calls.map(([name]) => name).sort();

  const declared = async (deps: LifecycleDeps) =>
    (
      await declareIncident(deps, {
        severity: 'P2',
        title: 'Checkout down',
        declaredBy: 'U0ALICE',
        channelId: 'C0OPS',
      })
    ).incidentId;

  it('declaring asks for its Slack message, its update reminder and its commander reminder', async () => {
    const effects = failingChange();
    await expect(declared({ pool: pool(), config, effects })).rejects.toThrow('not answering');
    expect(asked(effects)).toEqual(['changed', 'commanderDue', 'updateDue']);
  });

  it("declaring says its update reminder is a new incident's: nothing of it was scheduled before", async () => {
    const effects = recordingEffects();
    const id = await declared({ pool: pool(), config, effects });
    const reminders = effects.calls.filter(([name]) => name === 'updateDue');
    expect(reminders).toEqual([['updateDue', id, 0, expect.any(Date), { newIncident: true }]]);
  });

  it('a status update asks for its Slack message and its next reminder', async () => {
    const id = await declared({ pool: pool(), config, effects: recordingEffects() });
    const effects = failingChange();
    await expect(
      postStatusUpdate({ pool: pool(), config, effects }, id, { text: 'Rolled back', by: 'U0ALICE' }),
    ).rejects.toThrow('not answering');
    expect(asked(effects)).toEqual(['changed', 'updateDue']);
  });

  it('a change of severity asks for its Slack message and its next reminder', async () => {
    const id = await declared({ pool: pool(), config, effects: recordingEffects() });
    const effects = failingChange();
    await expect(changeSeverity({ pool: pool(), config, effects }, id, 'P1', 'U0ALICE')).rejects.toThrow(
      'not answering',
    );
    expect(asked(effects)).toEqual(['changed', 'updateDue']);
  });

  it('a status update and a change of severity say when the update was due before them', async () => {
    const effects = recordingEffects();
    const deps = { pool: pool(), config, effects };
    const id = await declared(deps);
    const due = async () =>
      (
        await pool().query<{ due: Date | null }>(
          'SELECT next_update_due_at AS due FROM incidents WHERE id = $1',
          [id],
        )
      ).rows[0]!.due;
    const declaredDue = await due();
    await postStatusUpdate(deps, id, { text: 'Rolled back', by: 'U0ALICE' });
    const updatedDue = await due();
    // P4 has no interval: none due after it, and the next change says none was.
    await changeSeverity(deps, id, 'P4', 'U0ALICE');
    await changeSeverity(deps, id, 'P2', 'U0ALICE');
    expect(effects.calls.filter(([name]) => name === 'updateDue').slice(1)).toEqual([
      ['updateDue', id, 1, updatedDue, { wasDueAt: declaredDue }],
      ['updateDue', id, 1, null, { wasDueAt: updatedDue }],
      ['updateDue', id, 1, updatedDue, { wasDueAt: null }],
    ]);
  });

  it('resolving asks for its Slack message, the end of its reminders and escalation, and its post-mortem', async () => {
    const id = await declared({ pool: pool(), config, effects: recordingEffects() });
    const effects = failingChange();
    await expect(resolveIncident({ pool: pool(), config, effects }, id, 'Fixed', 'U0ALICE')).rejects.toThrow(
      'not answering',
    );
    expect(asked(effects)).toEqual(['changed', 'postmortemRequested', 'resolved']);
  });

  it('acknowledging asks for its Slack message and the end of its escalation', async () => {
    // An alert's incident: one declared by hand has its owner already.
    const { rows } = await pool().query<{ id: number }>(
      `INSERT INTO incidents (title, severity, channel_id, group_key)
       VALUES ('HighLatency', 'P2', 'C0OPS', '{}:{alertname="HighLatency"}') RETURNING id::int AS id`,
    );
    const id = rows[0]!.id;
    const effects = failingChange();
    await expect(acknowledgeIncident({ pool: pool(), effects }, id, 'U0BOB')).rejects.toThrow(
      'not answering',
    );
    expect(asked(effects)).toEqual(['acknowledged', 'changed']);
  });
});
