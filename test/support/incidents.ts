import type pg from 'pg';
import { beforeEach } from 'vitest';
import { parseIncidentCommand } from '../../src/commands/incidentCommand.js';
import { type IncidentCommandDeps, runIncidentCommand } from '../../src/commands/incidentHandlers.js';
import { parseFileConfig } from '../../src/config/file.js';
import type { Incident } from '../../src/incidents/incidentStore.js';
import type { IncidentEffects, LifecycleDeps } from '../../src/incidents/lifecycle.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { TemplateSet } from '../../src/render/templates.js';
import { migratedDatabase } from './database.js';
import { waitForLockWaiters } from './services.js';

/** An open alert-born incident row as loadSnapshot returns it, for tests of views and templates. */
export function incidentRow(overrides: Partial<Incident> = {}): Incident {
  return {
    id: 42,
    title: 'CheckoutErrors: error rate above 5%',
    severity: 'P1',
    state: 'open',
    status: 'investigating',
    impact: null,
    affected: null,
    eta: null,
    resolution: null,
    declaredBy: null,
    updateCount: 0,
    nextUpdateDueAt: null,
    channelId: 'C0PAYMENTS',
    groupKey: '{}:{alertname="CheckoutErrors"}',
    groupLabels: { alertname: 'CheckoutErrors' },
    commonLabels: {},
    externalUrl: null,
    version: 1,
    rootTs: null,
    rootVersion: 0,
    createdAt: new Date('2026-01-01T00:00:00Z'),
    resolvedAt: null,
    truncatedAlerts: 0,
    reopenCount: 0,
    refusedChannelId: null,
    slackError: null,
    acknowledgedBy: null,
    acknowledgedAt: null,
    ...overrides,
  };
}

/** IncidentEffects that only record what they were asked: no queue. */
export function recordingEffects(): IncidentEffects & { calls: Array<[string, ...unknown[]]> } {
  const calls: Array<[string, ...unknown[]]> = [];
  const record =
    (name: string) =>
    async (...args: unknown[]) => {
      calls.push([name, ...args]);
    };
  return {
    calls,
    changed: record('changed'),
    updateDue: record('updateDue'),
    commanderDue: record('commanderDue'),
    channelNeeded: record('channelNeeded'),
    postmortemRequested: record('postmortemRequested'),
    resolved: record('resolved'),
    acknowledged: record('acknowledged'),
    opened: record('opened'),
  };
}

/**
 * The lifecycle's use cases over a database of the calling describe block's own, with recording effects;
 * a P2 incident's next update is due 30 minutes after the last, a P4's never. Use it inside a test.
 */
export function lifecycleOnDatabase(): () => LifecycleDeps {
  const pool = migratedDatabase();
  const config = parseFileConfig(
    'test',
    'slack: { defaultChannel: C0DEFAULT1 }\nincidents: { updateIntervals: { P2: 30m, P4: none } }',
  );
  let deps: LifecycleDeps | undefined;
  return () => {
    deps ??= { pool: pool(), config, effects: recordingEffects() };
    return deps;
  };
}

/** lifecycleOnDatabase, with every incident, and all that hangs on one, emptied before each test. */
export function lifecycleOnEmptiedDatabase(): () => LifecycleDeps {
  const lifecycle = lifecycleOnDatabase();
  beforeEach(async () => {
    await lifecycle().pool.query('TRUNCATE incidents CASCADE');
  });
  return lifecycle;
}

/**
 * `change`, started while another transaction holds incident `id`'s row after `update` (its one param the
 * id), which commits once the change waits for the row; what the change comes to.
 */
export async function whileRowHeld<T>(
  pool: pg.Pool,
  id: number,
  update: string,
  change: () => Promise<T>,
): Promise<T> {
  const other = await pool.connect();
  try {
    await other.query('BEGIN');
    await other.query(update, [id]);
    const changing = change();
    changing.catch(() => undefined); // awaited below, once the row is let go
    await waitForLockWaiters(pool, 1, 'the change to wait for the row');
    await other.query('COMMIT');
    return await changing;
  } finally {
    other.release();
  }
}

/** Opens incident `id` a minute after now, as an alert's reopening begun after a waiting change would. */
export const REOPENED_LATER =
  "UPDATE incidents SET opened_at = clock_timestamp() + interval '1 minute' WHERE id = $1";

/** Whether incident `id`'s `column` and its one `kind` timeline entry are both dated at its opening. */
export async function datedAtOpening(
  pool: pg.Pool,
  id: number,
  column: 'resolved_at' | 'acknowledged_at',
  kind: string,
): Promise<boolean> {
  const { rows } = await pool.query<{ at_opening: boolean }>(
    `SELECT i.${column} = i.opened_at AND e.created_at = i.opened_at AS at_opening
       FROM incidents i JOIN timeline_entries e ON e.incident_id = i.id AND e.kind = $2
      WHERE i.id = $1`,
    [id, kind],
  );
  return rows.length === 1 && rows[0]!.at_opening;
}

/**
 * /incident as the bot runs it, on `pool`, with `kept` what it answers from memory: each command gives its
 * answer to the caller (U0ALICE in C0OPS), as JSON.
 */
export function incidentCommandsOn(
  lifecycle: LifecycleDeps,
  pool: pg.Pool,
  templates: TemplateSet,
  kept: Partial<Pick<IncidentCommandDeps, 'incidentList' | 'timelines' | 'stats'>>,
): (text: string) => Promise<string> {
  const deps = {
    ...lifecycle,
    ...kept,
    pool,
    templates,
    config: parseFileConfig('test', 'slack: { defaultChannel: C0DEFAULT1 }'),
    effects: { ...recordingEffects(), silenceEnds: async () => {} },
    metrics: new Metrics(),
  } satisfies Partial<IncidentCommandDeps> as unknown as IncidentCommandDeps;
  let trigger = 0;
  return async (text) => {
    const reply = await runIncidentCommand(deps, parseIncidentCommand(text), {
      userId: 'U0ALICE',
      channelId: 'C0OPS',
      triggerId: `command-${++trigger}`,
    });
    if (!('ephemeral' in reply)) throw new Error(`${text} opened a form`);
    return JSON.stringify(reply.ephemeral);
  };
}

/** How a column of incidents is changed where its type alone cannot say: to a value its check allows. */
const COLUMN_CHANGES: Record<string, string> = {
  severity: "'P1'",
  state: "'resolved'",
  status: "'identified'",
  // Its own id would leave its rows in other tables behind (no ON UPDATE CASCADE): ids never change.
  id: 'id',
};
const TYPE_CHANGES: Record<string, (column: string) => string> = {
  text: (column) => `coalesce(${column}, '') || 'x'`,
  integer: (column) => `${column} + 1`,
  bigint: (column) => `${column} + 1`,
  'timestamp with time zone': (column) => `coalesce(${column}, now()) - interval '1 hour'`,
  boolean: (column) => `NOT ${column}`,
  jsonb: (column) => `${column} || '{"changed": "yes"}'`,
};

/**
 * Every column of incidents, as the table has them now, each with an expression that changes it (`to`,
 * undefined for a type not known here): state last, since a resolved incident shows less.
 */
export async function incidentColumnChanges(
  pool: pg.Pool,
): Promise<Array<{ column: string; type: string; to: string | undefined }>> {
  const { rows } = await pool.query<{ column: string; type: string }>(
    `SELECT column_name AS column, data_type AS type FROM information_schema.columns
      WHERE table_schema = current_schema() AND table_name = 'incidents' ORDER BY column_name = 'state', ordinal_position`,
  );
  return rows.map(({ column, type }) => ({
    column,
    type,
    to: COLUMN_CHANGES[column] ?? TYPE_CHANGES[type]?.(column),
  }));
}
