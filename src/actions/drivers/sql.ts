import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { z } from 'zod';
import { TimerDuration } from '../../primitives/duration.js';
import { ownValue } from '../../primitives/records.js';
import {
  capText,
  type Driver,
  type DriverResult,
  type DriverRun,
  type ParamValue,
  startDeadline,
} from './driver.js';
import { EnvName, paramValue, Template } from './placeholders.js';
import { compileStatement, transactionControl } from './sqlText.js';

/**
 * Runs SQL on a target database in one transaction: committed for a real run, rolled back for a dry run,
 * which reports what the statements would change (each one's command tag and row count, and the tables that
 * would be dropped or created). {{param}} values are bind parameters, never SQL text (see sqlText.ts).
 *
 * A statement waiting for a lock queues every later query on that table behind it, so no run waits long:
 * each transaction gets a lock_timeout. A dry run gives up at the first; a real run rolls back, lets the
 * queue through and tries again until its timeout.
 */

/** A dry run is only a preview: it gives up at once rather than hold up production. */
const DRY_RUN_LOCK_TIMEOUT_MS = 2000;
/**
 * A dry run holds what its statements locked (a DROP's ACCESS EXCLUSIVE) until its ROLLBACK, and the
 * requester waits for it before approvers see the request: long enough for DDL and an indexed DELETE,
 * short enough to be a blip for the table's readers. The action's timeout when that is shorter.
 */
const DRY_RUN_TIMEOUT_MS = 10_000;
// PostgreSQL's words when statement_timeout ends a statement (SQLSTATE 57014).
const STATEMENT_TIMEOUT = /canceling statement due to statement timeout/;
/** Long enough for the queries queued behind a lock request to go through before it is made again. */
const LOCK_RETRY_PAUSE_MS = 1000;

/** lock_not_available: lock_timeout ran out (or a NOWAIT met a lock). */
const LOCK_NOT_AVAILABLE = '55P03';
const LOCK_HELD = 'another session holds a lock it needs';

function transactionControlProblem(statement: string): string {
  return `${statement} is not allowed: the driver runs everything in one transaction of its own`;
}

const Statement = Template.superRefine((sql, ctx) => {
  for (const problem of compileStatement(sql).problems) ctx.addIssue({ code: 'custom', message: problem });
  const control = transactionControl(sql);
  if (control) ctx.addIssue({ code: 'custom', message: transactionControlProblem(control) });
});

export const SqlSettingsSchema = z
  .object({
    type: z.literal('sql'),
    // The NAME of the env var holding the target's connection string, which is a secret.
    connectionEnv: EnvName,
    // A .sql script run as it is: it takes no {{placeholders}}.
    file: z
      .string()
      .regex(/\.sql$/, 'expected the path of a .sql file')
      .optional(),
    statements: z.array(Statement).min(1).optional(),
    // How long a real run's statement waits for a lock before the transaction is retried.
    lockTimeout: TimerDuration.default(5000),
  })
  .strict()
  .refine((s) => (s.file === undefined) !== (s.statements === undefined), {
    message: 'expected exactly one of file and statements',
  });

export type SqlSettings = z.output<typeof SqlSettingsSchema>;

export function sqlPlaceholders(settings: SqlSettings): string[] {
  return (settings.statements ?? []).flatMap((sql) => compileStatement(sql).params);
}

interface Step {
  label: string;
  text: string;
  params: string[];
}

export function createSqlDriver(settings: SqlSettings): Driver {
  const steps = settings.statements?.map((sql): Step => {
    const compiled = compileStatement(sql);
    if (compiled.problems.length > 0)
      throw new Error(`unchecked SQL settings: ${compiled.problems.join('; ')}`);
    return { label: oneLine(compiled.text), text: compiled.text, params: compiled.params };
  });
  return {
    type: 'sql',
    run: (run) => runSql(settings, steps, run),
  };
}

declare module 'pg' {
  interface Query {
    // The protocol hook pg-cursor and pg-query-stream rely on too; pg's Result keeps only the tag's verb.
    handleCommandComplete(msg: { text: string }, connection: unknown): void;
  }
}

/** Records each statement's full command tag ("DROP TABLE", "DELETE 1"). */
class TaggedQuery extends pg.Query {
  readonly tags: string[] = [];
  override handleCommandComplete(msg: { text: string }, connection: unknown): void {
    this.tags.push(msg.text);
    super.handleCommandComplete(msg, connection);
  }
}

/** Without values pg uses the simple protocol, which runs a whole script; with them, one statement. */
function runTagged(client: pg.Client, text: string, values: ParamValue[] | undefined): Promise<string[]> {
  const query = new TaggedQuery(text, values);
  return new Promise((resolve, reject) => {
    query.on('end', () => resolve(query.tags));
    query.on('error', reject);
    client.query(query);
  });
}

async function tables(client: pg.Client): Promise<Set<string>> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT schemaname || '.' || tablename AS name FROM pg_tables
      WHERE schemaname NOT IN ('pg_catalog', 'information_schema')`,
  );
  return new Set(rows.map((r) => r.name));
}

function oneLine(sql: string, max = 200): string {
  const line = sql.replace(/\s+/g, ' ').trim();
  return line.length > max ? `${line.slice(0, max - 1)}…` : line;
}

/** "DROP TABLE ×2, DELETE 1": the tags, with repeats counted. */
function tagSummary(tags: string[]): string {
  const counts = new Map<string, number>();
  for (const tag of tags) counts.set(tag, (counts.get(tag) ?? 0) + 1);
  return [...counts].map(([tag, n]) => (n > 1 ? `${tag} ×${n}` : tag)).join(', ');
}

function seconds(ms: number): string {
  return `${ms / 1000} s`;
}

function triesGaveUp(n: number): string {
  return `${n} ${n > 1 ? 'tries' : 'try'} gave up at lock_timeout`;
}

function isLockTimeout(err: unknown): boolean {
  return (err as { code?: string }).code === LOCK_NOT_AVAILABLE;
}

function errorText(err: unknown): string {
  const e = err as Error & { code?: string; detail?: string; hint?: string };
  return [
    e.code && /^[0-9A-Z]{5}$/.test(e.code) ? `ERROR ${e.code}: ${e.message}` : e.message,
    e.detail,
    e.hint && `HINT: ${e.hint}`,
  ]
    .filter(Boolean)
    .join('\n');
}

async function cancelBackend(connectionString: string, pid: number): Promise<void> {
  const client = new pg.Client({ connectionString, connectionTimeoutMillis: 5000 });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT pg_cancel_backend($1)', [pid]);
  } catch {
    // The connection is closed next anyway, and statement_timeout bounds what still runs.
  } finally {
    await client.end().catch(() => {});
  }
}

async function runSql(
  settings: SqlSettings,
  compiled: Step[] | undefined,
  run: DriverRun,
): Promise<DriverResult> {
  const prefix = run.dryRun ? 'dry run: ' : '';
  const connectionString = ownValue(run.env, settings.connectionEnv);
  if (!connectionString)
    return { ok: false, output: '', summary: `${prefix}${settings.connectionEnv} is not set` };

  let steps = compiled;
  if (!steps) {
    const file = settings.file!;
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      return { ok: false, output: '', summary: `${prefix}cannot read ${file}: ${(err as Error).message}` };
    }
    const control = transactionControl(text);
    if (control)
      return { ok: false, output: '', summary: `${prefix}${file}: ${transactionControlProblem(control)}` };
    if (text.includes('{{')) {
      return {
        ok: false,
        output: '',
        summary: `${prefix}${file} contains {{…}}: a file takes no placeholders, use statements`,
      };
    }
    steps = [{ label: basename(file), text, params: [] }];
  }

  const lines: string[] = [];
  const result = (ok: boolean, summary: string): DriverResult => ({
    ok,
    output: capText(lines.join('\n')),
    summary,
  });
  const lockTimeoutMs = run.dryRun ? DRY_RUN_LOCK_TIMEOUT_MS : settings.lockTimeout;
  const timeoutMs = run.dryRun ? Math.min(run.timeoutMs, DRY_RUN_TIMEOUT_MS) : run.timeoutMs;
  const deadline = startDeadline({ signal: run.signal, timeoutMs });
  const client = new pg.Client({ connectionString, application_name: 'incident-bot action' });
  // A dropped connection surfaces as the error of the query that was running.
  client.on('error', () => {});
  let pid: number | undefined;
  let current = 0;
  let committing = false;
  let lockTimeouts = 0;

  const attempt = async (steps: Step[]): Promise<DriverResult> => {
    await client.query('BEGIN');
    lines.push('BEGIN');
    // SET LOCAL ends with the transaction and, unlike connection options, passes through PgBouncer.
    // statement_timeout bounds the server side even if the cancel below cannot get through.
    const limits = `SET LOCAL lock_timeout = '${lockTimeoutMs}ms'; SET LOCAL statement_timeout = '${timeoutMs}ms'`;
    await client.query(limits);
    lines.push(limits);
    const before = await tables(client);
    const tags: string[] = [];
    for (const [i, step] of steps.entries()) {
      if (deadline.reason()) throw new Error(deadline.reason());
      current = i + 1;
      const values =
        step.params.length > 0 ? step.params.map((name) => paramValue(run.params, name)) : undefined;
      const bound = values
        ? `   [${values.map((v, j) => `$${j + 1} = ${JSON.stringify(v)}`).join(', ')}]`
        : '';
      lines.push(`${i + 1}. ${step.label}${bound}`);
      const stepTags = await runTagged(client, step.text, values);
      lines.push(`   → ${stepTags.join(', ') || '(nothing)'}`);
      tags.push(...stepTags);
    }
    current = 0;
    const after = await tables(client);
    const dropped = [...before].filter((t) => !after.has(t)).sort();
    const created = [...after].filter((t) => !before.has(t)).sort();
    // Stopped meanwhile (its cancel may come too late for a statement that has ended), the stop is told
    // as a roll-back: no COMMIT may follow it.
    if (deadline.reason()) throw new Error(deadline.reason());
    committing = !run.dryRun;
    await client.query(run.dryRun ? 'ROLLBACK' : 'COMMIT');
    lines.push(run.dryRun ? 'ROLLBACK (dry run: nothing was changed)' : 'COMMIT');
    const would = run.dryRun ? 'would be ' : '';
    if (dropped.length > 0) lines.push(`tables that ${would || 'were '}dropped: ${dropped.join(', ')}`);
    if (created.length > 0) lines.push(`tables that ${would || 'were '}created: ${created.join(', ')}`);
    const changes = [
      dropped.length > 0 && `${run.dryRun ? 'would drop' : 'dropped'} ${dropped.join(', ')}`,
      created.length > 0 && `${run.dryRun ? 'would create' : 'created'} ${created.join(', ')}`,
    ].filter(Boolean);
    const what = run.dryRun ? 'rolled back' : 'committed';
    const retried = lockTimeouts > 0 ? ` (on try ${lockTimeouts + 1}: ${triesGaveUp(lockTimeouts)})` : '';
    return result(true, `${prefix}${what}: ${[tagSummary(tags), ...changes].join('; ')}${retried}`);
  };

  const work = async (): Promise<DriverResult> => {
    await client.connect();
    pid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
    for (;;) {
      try {
        return await attempt(steps);
      } catch (err) {
        // A dry run reports the lock it could not get; a real run tries again, all or nothing each time.
        if (run.dryRun || !isLockTimeout(err)) throw err;
        lockTimeouts++;
        await client.query('ROLLBACK');
        lines.push(
          errorText(err),
          `ROLLBACK: lock_timeout (waited ${seconds(lockTimeoutMs)}), trying again in ${seconds(LOCK_RETRY_PAUSE_MS)}`,
        );
        current = 0;
        // The COMMIT itself may have met it (a deferred key check): the next try has sent none yet.
        committing = false;
        await sleep(LOCK_RETRY_PAUSE_MS, undefined, { signal: deadline.signal });
      }
    }
  };

  try {
    const done = work().catch((err: unknown) => err as Error);
    let outcome = await Promise.race([done, deadline.stopped.then(() => 'stopped' as const)]);
    // A COMMIT already sent may have taken effect: wait for its answer rather than report a guess.
    if (outcome === 'stopped' && committing) outcome = await done;
    // An error once stopped (the pause between tries aborted, the server's statement_timeout) is the stop.
    // The server's timeout may also come a moment before our own timer, late on a busy machine: the same.
    const serverTimedOut = outcome instanceof Error && STATEMENT_TIMEOUT.test(outcome.message);
    if (
      outcome === 'stopped' ||
      (outcome instanceof Error && (deadline.reason() || serverTimedOut) && !committing)
    ) {
      if (pid !== undefined) await cancelBackend(connectionString, pid);
      lines.push('stopped: the transaction is rolled back');
      const waits = lockTimeouts > 0 ? ` (${triesGaveUp(lockTimeouts)}: ${LOCK_HELD})` : '';
      return result(false, `${prefix}${deadline.reason() ?? `timed out after ${timeoutMs} ms`}${waits}`);
    }
    if (!(outcome instanceof Error)) return outcome;
    // A COMMIT PostgreSQL refused (a deferred constraint) rolled back; one whose answer the connection lost
    // may have been taken.
    if (committing && !(outcome instanceof pg.DatabaseError)) {
      lines.push(errorText(outcome), 'the answer to COMMIT was lost: whether it took effect is unknown');
      return result(
        false,
        `${prefix}the answer to COMMIT was lost (${outcome.message}): it may have been committed; check the target before requesting it again`,
      );
    }
    // The transaction is aborted; ending the connection below would roll it back too.
    await client.query('ROLLBACK').catch(() => {});
    lines.push(errorText(outcome), 'ROLLBACK: nothing was changed');
    const where = current > 0 ? `statement ${current} failed` : 'failed';
    const why = isLockTimeout(outcome)
      ? `lock_timeout: ${LOCK_HELD} (waited ${seconds(lockTimeoutMs)})`
      : outcome.message;
    return result(false, `${prefix}${where}, nothing was changed: ${why}`);
  } finally {
    deadline.dispose();
    await client.end().catch(() => {});
  }
}
