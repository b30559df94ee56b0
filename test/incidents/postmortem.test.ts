import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ingestDelivery } from '../../src/alerts/ingest.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { migrate } from '../../src/db/migrate.js';
import { createPool, inTransaction, type Pool } from '../../src/db/pool.js';
import { IncidentError } from '../../src/incidents/errors.js';
import {
  addNote,
  assignRole,
  changeSeverity,
  type LifecycleDeps,
  postStatusUpdate,
  resolveIncident,
} from '../../src/incidents/lifecycle.js';
import {
  generatePostmortem,
  postmortemAsked,
  postmortemsAsked,
  recordPostmortemFile,
  requestPostmortem,
} from '../../src/incidents/postmortem.js';
import { TemplateError, TemplateSet } from '../../src/render/templates.js';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { recordingEffects } from '../support/incidents.js';
import { createTestDatabase, type TestDatabase } from '../support/services.js';

// UPDATE_GOLDEN=1 rewrites it from the current output: review the diff before committing it.
const GOLDEN = fileURLToPath(new URL('./__golden__/postmortem.md', import.meta.url));

const config = parseFileConfig(
  'test',
  'slack: { defaultChannel: C0DEFAULT1 }\nincidents: { postmortemOnResolve: true }',
);

describe('post-mortem skeleton', () => {
  let db: TestDatabase;
  let pool: Pool;
  let templates: TemplateSet;
  let effects: ReturnType<typeof recordingEffects>;
  let deps: LifecycleDeps;

  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool(db.url);
    await migrate(pool);
    templates = await TemplateSet.load();
    effects = recordingEffects();
    deps = { pool, config, effects };
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const alerts: AlertSpec[] = [
    { name: 'CheckoutErrors', instance: 'pod-a', severity: 'warning', startsAt: '2026-11-23T07:58:00Z' },
    { name: 'CheckoutErrors', instance: 'pod-b', severity: 'warning', startsAt: '2026-11-23T07:59:30Z' },
  ];

  /** An incident opened by Alertmanager for `group`; its id. */
  async function alertBorn(group: string, specs: AlertSpec[] = alerts): Promise<number> {
    const result = await inTransaction(pool, (db) =>
      ingestDelivery(
        db,
        config,
        WebhookPayloadSchema.parse(
          payload({
            group,
            alerts: specs,
            commonLabels: { severity: 'warning' },
            commonAnnotations: { summary: 'Error rate above 5%' },
          }),
        ),
      ),
    );
    return result.incident!.id;
  }

  const row = async (sql: string, id: number) => (await pool.query(sql, [id])).rows[0];
  const state = async (id: number) => ({
    postmortem: await row(
      'SELECT revision, markdown, generated_by, slack_file_id FROM postmortems WHERE incident_id = $1',
      id,
    ),
    entries: (await row('SELECT count(*)::int AS n FROM timeline_entries WHERE incident_id = $1', id)).n,
    version: (await row('SELECT version FROM incidents WHERE id = $1', id)).version,
  });

  it('tells an incident from its record, matching the reviewed golden file byte for byte', async () => {
    await pool.query("SELECT setval('incidents_id_seq', 41)"); // INC-42, whatever ran before
    const id = await alertBorn('CheckoutErrors');
    // A later delivery of the same group, with one alert more.
    await alertBorn('CheckoutErrors', [
      ...alerts,
      {
        name: 'CheckoutLatencyHigh',
        instance: 'pod-a',
        severity: 'warning',
        startsAt: '2026-11-23T08:04:10Z',
      },
    ]);
    await assignRole(deps, id, 'commander', 'U0CMDR', 'U0ONCALL');
    await postStatusUpdate(deps, id, {
      status: 'investigating',
      text: 'Card payments fail at checkout for about 5% of attempts.\nSuspect the 08:00 deploy of payments-api.',
      impact: 'About 5% of card payments failed at checkout',
      affected: 'payments-api, EU region',
      by: 'U0CMDR',
    });
    await changeSeverity(deps, id, 'P0', 'U0CMDR');
    await addNote(deps, id, 'Rolled back payments-api to v41.\n\n# watching the error rate', 'U0SCRIBE');
    // Kinds the remediation work will write; told generically until then.
    await pool.query(
      `INSERT INTO timeline_entries (incident_id, kind, actor, data) VALUES
         ($1, 'health_check', 'U0CMDR', '{"check": "payments-api /healthz", "outcome": "healthy"}'),
         ($1, 'action_succeeded', 'incident-bot',
          '{"action": "restart payments-api", "by": "U0CMDR", "approvedBy": "U0LEAD", "outcome": "3 pods restarted", "pods": ["a", "b", "c"]}')`,
      [id],
    );
    await postStatusUpdate(deps, id, {
      status: 'monitoring',
      text: 'Error rate back under 0.1% since the rollback.',
      by: 'U0CMDR',
    });
    await resolveIncident(deps, id, 'Rolled back the 08:00 deploy of payments-api (v42 → v41).', 'U0CMDR');

    // Every timestamp now() wrote, fixed (alerts' come from the payloads); entries of one delivery share
    // theirs, as they do for real.
    const times: Array<[string, string]> = [
      ['incident_opened', '08:02:05'],
      ['alert_firing', '08:02:05'],
      ['alert_firing', '08:02:05'],
      ['alert_firing', '08:06:40'],
      ['role_assigned', '08:07:12'],
      ['status_update', '08:10:00'],
      ['severity_changed', '08:12:30'],
      ['note', '08:25:00'],
      ['health_check', '08:31:00'],
      ['action_succeeded', '08:40:00'],
      ['status_update', '08:52:00'],
      ['incident_resolved', '09:17:15'],
    ];
    const { rows } = await pool.query<{ id: string; kind: string }>(
      'SELECT id, kind FROM timeline_entries WHERE incident_id = $1 ORDER BY id',
      [id],
    );
    expect(rows.map((r) => r.kind)).toEqual(times.map(([kind]) => kind));
    for (const [i, r] of rows.entries()) {
      await pool.query('UPDATE timeline_entries SET created_at = $2 WHERE id = $1', [
        r.id,
        `2026-11-23T${times[i]![1]}Z`,
      ]);
    }
    await pool.query(
      `UPDATE incidents SET created_at = '2026-11-23T08:02:05Z', resolved_at = '2026-11-23T09:17:15Z'
        WHERE id = $1`,
      [id],
    );

    // What the job does when the lifecycle asks for a post-mortem on resolve.
    const requested = effects.calls.find(([name]) => name === 'postmortemRequested');
    expect(requested).toEqual(['postmortemRequested', id, 'U0CMDR']);
    const result = await generatePostmortem(pool, templates, id, 'U0CMDR');

    if (process.env.UPDATE_GOLDEN === '1') await writeFile(GOLDEN, result.markdown);
    expect(result.markdown).toBe(await readFile(GOLDEN, 'utf8'));
    expect(result).toMatchObject({ revision: 1, filename: 'INC-42-postmortem.md' });
  });

  it('stores each generation as the next revision, from the record as it stands', async () => {
    const id = await alertBorn('Revisions');
    const before = await state(id);
    const first = await generatePostmortem(pool, templates, id, 'U0FIRST');
    expect(first).toMatchObject({
      revision: 1,
      filename: `INC-${id}-postmortem.md`,
      version: before.version + 1,
    });
    expect(await recordPostmortemFile(pool, id, 1, 'F0FIRST')).toBe(true);

    await addNote(deps, id, 'Found the bad feature flag.', 'U0SCRIBE');
    const second = await generatePostmortem(pool, templates, id, 'U0SECOND');
    expect(second.revision).toBe(2);
    expect(first.markdown).not.toContain('Found the bad feature flag.');
    expect(second.markdown).toContain('Note by @U0SCRIBE: Found the bad feature flag.');
    // Generating is not part of the incident: the first generation is not in the second's timeline.
    expect(second.markdown).not.toContain('Postmortem generated');

    const after = await state(id);
    // The first revision's file is not the second's.
    expect(after.postmortem).toEqual({
      revision: 2,
      markdown: second.markdown,
      generated_by: 'U0SECOND',
      slack_file_id: null,
    });
    expect(after.version).toBe(second.version);
    const { rows } = await pool.query(
      "SELECT actor, data FROM timeline_entries WHERE incident_id = $1 AND kind = 'postmortem_generated' ORDER BY id",
      [id],
    );
    expect(rows).toEqual([
      { actor: 'U0FIRST', data: { revision: 1 } },
      { actor: 'U0SECOND', data: { revision: 2 } },
    ]);

    // An upload of revision 1 finishing late must not pass for revision 2's file.
    expect(await recordPostmortemFile(pool, id, 1, 'F0LATE')).toBe(false);
    expect(await recordPostmortemFile(pool, id, 2, 'F0SECOND')).toBe(true);
    expect((await state(id)).postmortem.slack_file_id).toBe('F0SECOND');
  });

  it("keeps a revision's first recorded file: another run's, recorded later, changes nothing", async () => {
    const id = await alertBorn('RecordedTwice');
    await generatePostmortem(pool, templates, id, 'U0FIRST');
    expect(await recordPostmortemFile(pool, id, 1, 'F0FIRST')).toBe(true);
    expect(await recordPostmortemFile(pool, id, 1, 'F0AGAIN')).toBe(false);
    expect((await state(id)).postmortem.slack_file_id).toBe('F0FIRST');
  });

  it('writes nothing when the template fails to render', async () => {
    const id = await alertBorn('BrokenOverride');
    await generatePostmortem(pool, templates, id, 'U0FIRST');
    const before = await state(id);

    const dir = await mkdtemp(join(tmpdir(), 'incident-bot-postmortem-'));
    // Loads fine; fails only once it renders a timeline entry (Markdown templates have no `user` helper).
    await writeFile(
      join(dir, 'postmortem.md.hbs'),
      '# {{ref}}\n{{#each timeline}}- {{user actor}}\n{{/each}}',
    );
    const broken = await TemplateSet.load(dir);
    await expect(generatePostmortem(pool, broken, id, 'U0SECOND')).rejects.toThrow(TemplateError);

    expect(await state(id)).toEqual(before);
  });

  it('refuses an incident that does not exist', async () => {
    await expect(generatePostmortem(pool, templates, 999_999, 'U0X')).rejects.toThrow(
      new IncidentError('INCIDENT_NOT_FOUND', 'There is no incident INC-999999.'),
    );
    expect(await recordPostmortemFile(pool, 999_999, 1, 'F0X')).toBe(false);
  });

  describe('a request for it', () => {
    const asked = async (id: number) =>
      (await postmortemsAsked(pool)).filter((request) => request.incidentId === id);

    it('is kept until the upload of a revision written after it, asked twice or not, and then queued', async () => {
      const id = await alertBorn('Asked');
      const queued: Array<[number, string]> = [];
      const queue = { postmortemRequested: async (i: number, by: string) => void queued.push([i, by]) };
      await requestPostmortem(pool, queue, id, 'U0FIRST');
      await requestPostmortem(pool, queue, id, 'U0SECOND');
      expect(queued).toEqual([
        [id, 'U0FIRST'],
        [id, 'U0SECOND'],
      ]);
      expect(await asked(id)).toEqual([{ incidentId: id, requestedBy: 'U0SECOND' }]);

      await generatePostmortem(pool, templates, id, 'U0SECOND');
      // Asked again once that revision is written: its upload does not answer it.
      await requestPostmortem(pool, queue, id, 'U0THIRD');
      expect(await recordPostmortemFile(pool, id, 1, 'F0FIRST')).toBe(true);
      expect(await postmortemAsked(pool, id)).toBe(true);

      await generatePostmortem(pool, templates, id, 'U0THIRD');
      // An upload of the older revision, late, neither passes for the newer nor answers the request.
      expect(await recordPostmortemFile(pool, id, 1, 'F0LATE')).toBe(false);
      expect(await postmortemAsked(pool, id)).toBe(true);
      expect(await recordPostmortemFile(pool, id, 2, 'F0SECOND')).toBe(true);
      expect(await postmortemAsked(pool, id)).toBe(false);
      expect(await asked(id)).toEqual([]);
    });

    it('is answered by an upload an older worker recorded, which left it in place', async () => {
      const id = await alertBorn('OlderWorker');
      await requestPostmortem(pool, { postmortemRequested: async () => {} }, id, 'U0FIRST');
      await generatePostmortem(pool, templates, id, 'U0FIRST');
      // As a worker from before postmortem_requests records an upload.
      await pool.query("UPDATE postmortems SET slack_file_id = 'F0OLD' WHERE incident_id = $1", [id]);
      expect(await asked(id)).toEqual([]);
      expect(await postmortemAsked(pool, id)).toBe(false);
    });

    it('is kept though its job could not be queued: the sweep queues it', async () => {
      const id = await alertBorn('QueueAway');
      const queue = {
        postmortemRequested: async () => {
          throw new Error('Redis is away');
        },
      };
      await expect(requestPostmortem(pool, queue, id, 'U0FIRST')).rejects.toThrow('Redis is away');
      expect(await asked(id)).toEqual([{ incidentId: id, requestedBy: 'U0FIRST' }]);
    });

    it('is made by a resolve when the config asks for a post-mortem on resolve, in its statement', async () => {
      const id = await alertBorn('ResolvedAsked');
      await resolveIncident(deps, id, 'Rolled back', 'U0RESOLVER');
      expect(await asked(id)).toEqual([{ incidentId: id, requestedBy: 'U0RESOLVER' }]);
      const quiet = parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }');
      const other = await alertBorn('ResolvedNotAsked');
      await resolveIncident({ ...deps, config: quiet }, other, 'Rolled back', 'U0RESOLVER');
      expect(await asked(other)).toEqual([]);
    });
  });
});
