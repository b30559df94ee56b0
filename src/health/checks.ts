import net from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { Redis } from 'ioredis';
import pg from 'pg';
import { plural, truncate } from '../primitives/text.js';
import { CheckFailure, CheckRun, describeError, oneLine, percent, redact, show } from './checkRun.js';
import type { HealthCheck, HealthCheckKind } from './checkSchema.js';
import { httpRequest } from './httpRequest.js';
import { checkPrometheus } from './prometheusCheck.js';

export type CheckStatus = 'ok' | 'warn' | 'fail';

export interface CheckFact {
  label: string;
  value: string;
}

export interface CheckResult {
  name: string;
  kind: HealthCheckKind;
  status: CheckStatus;
  latencyMs: number;
  /** One line for people: what is wrong, or a short summary when nothing is. */
  detail: string;
  facts: CheckFact[];
  /** Where to look further (a Prometheus check's graph). */
  link?: { url: string; text: string };
}

export interface RunCheckOptions {
  /** Where connectionEnv names are looked up (process.env in production). */
  env: Record<string, string | undefined>;
  /** Cancels the check early, e.g. when the job running it is shutting down. */
  signal?: AbortSignal;
  /** What `{{labels.name}}` placeholders are filled from: the incident's group and common labels. */
  labels?: Readonly<Record<string, string>>;
}

export interface ServiceHealth {
  /** The worst status among the results; `ok` for a service without checks. */
  status: CheckStatus;
  /** In the order the checks were given. */
  results: CheckResult[];
}

const MAX_DETAIL = 400;
const LOCKS_LISTED = 3;
const RECENT_MIGRATIONS = 5;
const REDIS_MEMORY_WARN_AT = 0.9;

/** Runs one check within its timeout. Never throws: a broken target is a `fail` result. */
export async function runCheck(check: HealthCheck, options: RunCheckOptions): Promise<CheckResult> {
  const started = performance.now();
  const controller = new AbortController();
  const run = new CheckRun(options.env, controller.signal);
  const timer = setTimeout(
    () => controller.abort(new CheckFailure(`timed out after ${check.timeout} ms`)),
    check.timeout,
  );
  const cancel = () => controller.abort(new CheckFailure('cancelled before it finished'));
  options.signal?.addEventListener('abort', cancel, { once: true });
  let summary = '';
  try {
    if (options.signal?.aborted) throw new CheckFailure('cancelled before it started');
    summary = await Promise.race([
      runnerFor(check, run, options.labels ?? {}),
      rejectWhenAborted(controller.signal),
    ]);
  } catch (err) {
    run.fail(describeError(err));
  } finally {
    clearTimeout(timer);
    options.signal?.removeEventListener('abort', cancel);
  }
  const status = run.problems.some((p) => p.status === 'fail') ? 'fail' : run.problems.length ? 'warn' : 'ok';
  // Failures first: they are what someone reading one line needs.
  const problems = [...run.problems].sort((a, b) =>
    a.status === b.status ? 0 : a.status === 'fail' ? -1 : 1,
  );
  const detail = problems.length ? problems.map((p) => p.text).join('; ') : summary;
  return {
    name: check.name,
    kind: check.kind,
    status,
    latencyMs: Math.round(performance.now() - started),
    detail: truncate(redact(oneLine(detail), run.secrets), MAX_DETAIL),
    facts: run.facts.map((f) => ({ label: f.label, value: redact(oneLine(f.value), run.secrets) })),
    ...(run.link ? { link: run.link } : {}),
  };
}

/** Runs a service's checks concurrently. */
export async function runChecks(
  checks: readonly HealthCheck[],
  options: RunCheckOptions,
): Promise<ServiceHealth> {
  const results = await Promise.all(checks.map((check) => runCheck(check, options)));
  const status = results.some((r) => r.status === 'fail')
    ? 'fail'
    : results.some((r) => r.status === 'warn')
      ? 'warn'
      : 'ok';
  return { status, results };
}

/** A service's result as the timeline keeps it (a health_check entry's data): what the post-mortem tells. */
export function healthRecord(service: string, result: ServiceHealth): Record<string, unknown> {
  return {
    service,
    status: result.status,
    checks: result.results.map((r) => ({
      name: r.name,
      status: r.status,
      latencyMs: Math.round(r.latencyMs),
      detail: r.detail,
    })),
  };
}

/** Resolves to the ok summary; records problems on `run`; throws when the target cannot be checked at all. */
function runnerFor(
  check: HealthCheck,
  run: CheckRun,
  labels: Readonly<Record<string, string>>,
): Promise<string> {
  switch (check.kind) {
    case 'http':
      return checkHttp(check, run);
    case 'postgres':
      return checkPostgres(check, run);
    case 'redis':
      return checkRedis(check, run);
    case 'tcp':
      return checkTcp(check, run);
    case 'prometheus':
      return checkPrometheus(check, run, labels);
  }
}

function rejectWhenAborted(signal: AbortSignal): Promise<never> {
  return new Promise((_, reject) => {
    signal.addEventListener('abort', () => reject(signal.reason), { once: true });
  });
}

// ---- http ----

type HttpCheck = Extract<HealthCheck, { kind: 'http' }>;

async function checkHttp(check: HttpCheck, run: CheckRun): Promise<string> {
  run.fact('target', `${check.method} ${check.url}`);
  const wantBody = (status: number) => status === check.expectStatus && check.expectJson !== undefined;
  const { status, body: text } = await httpRequest(
    { url: check.url, method: check.method },
    run.signal,
    wantBody,
  );
  run.fact('status', String(status));
  if (status !== check.expectStatus) {
    run.fail(`expected status ${check.expectStatus}, got ${status}`);
    return '';
  }
  if (!check.expectJson) return `status ${status}`;
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw new CheckFailure(`expected a JSON response, got ${show(text)}`);
  }
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    throw new CheckFailure(`expected a JSON object, got ${show(body)}`);
  }
  for (const [key, expected] of Object.entries(check.expectJson)) {
    if (!Object.hasOwn(body, key)) run.fail(`json.${key} is missing, expected ${show(expected)}`);
    else {
      const actual = (body as Record<string, unknown>)[key];
      if (!isDeepStrictEqual(actual, expected))
        run.fail(`expected json.${key} ${show(expected)}, got ${show(actual)}`);
    }
  }
  return `status ${status}, JSON as expected`;
}

// ---- postgres ----

type PostgresCheck = Extract<HealthCheck, { kind: 'postgres' }>;

async function checkPostgres(check: PostgresCheck, run: CheckRun): Promise<string> {
  const connectionString = run.connectionString(check.connectionEnv);
  const target = targetOf(connectionString, 5432);
  if (target) run.fact('target', target);
  // Our own socket, so that a check cut off can destroy it: client.end() only half-closes while
  // connecting and then waits for a server that may never read again.
  const socket = new net.Socket();
  const client = new pg.Client({
    connectionString,
    stream: () => socket,
    application_name: 'incident-bot-health',
    // Backstop only: the check's own deadline closes the socket first.
    connectionTimeoutMillis: check.timeout + 1000,
    // The server stops working on our behalf once we have given up.
    statement_timeout: check.timeout,
    // A migrations table locked by a running migration is reported, not waited on for the whole budget.
    lock_timeout: Math.ceil(check.timeout / 2),
  });
  // A connection lost mid-check rejects the pending query; the event alone must not crash the process.
  client.on('error', () => {});
  const release = run.onAbort(() => socket.destroy());
  try {
    await client.connect();
    await client.query('SELECT 1');
    const connections = await checkConnections(client, check, run);
    await checkLocks(client, run);
    const tables = check.requiredTables?.length
      ? await checkRequiredTables(client, check.requiredTables, run)
      : '';
    const head = await checkMigrations(client, check, run);
    return ['SELECT 1 ok', head, tables, connections].filter(Boolean).join('; ');
  } finally {
    release();
    await client.end().catch(() => {});
  }
}

async function checkConnections(client: pg.Client, check: PostgresCheck, run: CheckRun): Promise<string> {
  const { rows } = await client.query<{ used: number; max: number }>(
    `SELECT count(*)::int AS used, current_setting('max_connections')::int AS max
       FROM pg_stat_activity WHERE backend_type = 'client backend'`,
  );
  const { used, max } = rows[0]!;
  run.fact('connections', `${used} of ${max} (${percent(used / max)})`);
  if (used / max >= check.connectionsWarnAt) {
    run.warn(
      `${used} of ${max} connections in use (${percent(used / max)}), warn at ${percent(check.connectionsWarnAt)}`,
    );
  }
  return `${used} of ${max} connections`;
}

async function checkLocks(client: pg.Client, run: CheckRun): Promise<void> {
  // Sessions of this database only: other databases on the same server are other checks' business.
  const { rows } = await client.query<{ pid: number; mode: string; target: string; blocked_by: number[] }>(
    `SELECT l.pid, l.mode, coalesce(l.relation::regclass::text, l.locktype) AS target,
            pg_blocking_pids(l.pid) AS blocked_by
       FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE NOT l.granted AND a.datname = current_database()
      ORDER BY l.pid`,
  );
  run.fact('ungranted locks', String(rows.length));
  if (rows.length === 0) return;
  const listed = rows.slice(0, LOCKS_LISTED).map((lock) => {
    const blockers = lock.blocked_by.length ? ` (blocked by pid ${lock.blocked_by.join(', ')})` : '';
    return `pid ${lock.pid} waits for ${lock.mode} on ${lock.target}${blockers}`;
  });
  const more = rows.length > LOCKS_LISTED ? `, and ${rows.length - LOCKS_LISTED} more` : '';
  run.warn(`${plural(rows.length, 'ungranted lock')}: ${listed.join(', ')}${more}`);
}

async function checkRequiredTables(client: pg.Client, required: string[], run: CheckRun): Promise<string> {
  const wanted = required.map((name) => ({ name, ...splitTableName(name) }));
  const { rows } = await client.query<{ schema: string; table: string }>(
    `SELECT schemaname::text AS schema, tablename::text AS table FROM pg_tables
      WHERE (schemaname::text, tablename::text) IN (SELECT * FROM unnest($1::text[], $2::text[]))`,
    [wanted.map((w) => w.schema), wanted.map((w) => w.table)],
  );
  const present = new Set(rows.map((r) => `${r.schema}.${r.table}`));
  const missing = wanted.filter((w) => !present.has(`${w.schema}.${w.table}`)).map((w) => w.name);
  run.fact('required tables', `${wanted.length - missing.length} of ${wanted.length} present`);
  if (missing.length === 1) run.fail(`table ${missing[0]} missing`);
  else if (missing.length > 1) run.fail(`tables ${missing.join(', ')} missing`);
  return `${plural(wanted.length, 'required table')} present`;
}

async function checkMigrations(client: pg.Client, check: PostgresCheck, run: CheckRun): Promise<string> {
  const { schema, table } = splitTableName(check.migrationsTable);
  const qualified = `${quoteIdent(schema)}.${quoteIdent(table)}`;
  const { rows: found } = await client.query<{ columns: string[] | null }>(
    `SELECT (SELECT array_agg(attname::text) FROM pg_attribute
              WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) AS columns
       FROM (SELECT to_regclass($1) AS oid) c WHERE c.oid IS NOT NULL`,
    [qualified],
  );
  if (found.length === 0) {
    run.fail(`migrations table ${check.migrationsTable} missing`);
    return '';
  }
  const columns = found[0]!.columns ?? [];
  const column = check.migrationsColumn;
  if (!columns.includes(column)) {
    run.fail(`column ${column} missing from ${check.migrationsTable}`);
    return '';
  }
  const hasAppliedAt = columns.includes('applied_at');
  // One run of the migrator often stamps several files with the same applied_at: the name breaks the tie.
  const order = hasAppliedAt
    ? `applied_at DESC NULLS LAST, ${quoteIdent(column)} DESC`
    : `${quoteIdent(column)} DESC`;
  let rows: Array<{ name: string; applied_at?: unknown }>;
  try {
    ({ rows } = await client.query(
      `SELECT ${quoteIdent(column)}::text AS name${hasAppliedAt ? ', applied_at' : ''}
         FROM ${qualified} ORDER BY ${order} LIMIT ${RECENT_MIGRATIONS}`,
    ));
  } catch (err) {
    if ((err as { code?: string }).code !== '55P03') throw err;
    run.warn(`migrations table ${check.migrationsTable} is locked by another session, head not read`);
    return '';
  }
  const newest = rows[0];
  if (!newest) {
    if (check.expectedHead) run.fail(`no migrations applied, expected head ${check.expectedHead}`);
    else run.warn(`no migrations applied in ${check.migrationsTable}`);
    return '';
  }
  const appliedAt = newest.applied_at instanceof Date ? ` (applied ${newest.applied_at.toISOString()})` : '';
  run.fact('migration head', `${newest.name}${appliedAt}`);
  run.fact('recent migrations', rows.map((r) => r.name).join(', '));
  if (check.expectedHead && newest.name !== check.expectedHead) {
    run.fail(`expected migration head ${check.expectedHead}, got ${newest.name}`);
  }
  return `migration head ${newest.name}`;
}

/** `audit.events` → {audit, events}; a bare name is in public. */
function splitTableName(name: string): { schema: string; table: string } {
  const dot = name.indexOf('.');
  return dot < 0
    ? { schema: 'public', table: name }
    : { schema: name.slice(0, dot), table: name.slice(dot + 1) };
}

// The schema allows only letters, digits and _, so quoting is for case, not for escaping.
function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

// ---- redis ----

type RedisCheck = Extract<HealthCheck, { kind: 'redis' }>;

async function checkRedis(check: RedisCheck, run: CheckRun): Promise<string> {
  const url = run.connectionString(check.connectionEnv);
  const target = targetOf(url, 6379);
  if (target) run.fact('target', target);
  let connectError: Error | undefined;
  const redis = new Redis(url, {
    lazyConnect: true,
    // RESP2 and no CLIENT SETINFO: targets may run Redis older than 6, which knows no HELLO.
    protocol: 2,
    disableClientInfo: true,
    // Backstops only, as for Postgres: the check's own deadline disconnects first.
    connectTimeout: check.timeout + 1000,
    commandTimeout: check.timeout + 1000,
    // One attempt: the check reports an outage instead of riding it out.
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    connectionName: 'incident-bot-health',
    // disconnect() half-closes and waits this long before destroying: a hung server may never answer.
    disconnectTimeout: 0,
  });
  // ioredis rejects connect() with a bare "Connection is closed."; the error event says why.
  redis.on('error', (err: Error) => {
    connectError ??= err;
  });
  const release = run.onAbort(() => redis.disconnect());
  try {
    try {
      await redis.connect();
    } catch (err) {
      throw connectError ?? err;
    }
    const pong = await redis.ping();
    if (pong !== 'PONG') throw new CheckFailure(`expected PONG, got ${show(pong)}`);
    const memory = parseInfo(await redis.info('memory'));
    const clients = parseInfo(await redis.info('clients'));
    const used = Number(memory.used_memory);
    const max = Number(memory.maxmemory);
    const usedHuman = memory.used_memory_human ?? `${used}B`;
    const maxHuman = memory.maxmemory_human ?? `${max}B`;
    run.fact('used memory', usedHuman);
    run.fact('maxmemory', max > 0 ? `${maxHuman} (${percent(used / max)} used)` : 'none');
    if (memory.maxmemory_policy) run.fact('maxmemory policy', memory.maxmemory_policy);
    if (clients.connected_clients) run.fact('connected clients', clients.connected_clients);
    if (max > 0 && used >= REDIS_MEMORY_WARN_AT * max) {
      run.warn(`used memory ${usedHuman} is ${percent(used / max)} of maxmemory ${maxHuman}`);
    }
    const limit = max > 0 ? ` of ${maxHuman}` : ', no maxmemory';
    return `PONG; ${usedHuman} used${limit}; ${plural(Number(clients.connected_clients), 'client')}`;
  } finally {
    release();
    redis.disconnect();
  }
}

function parseInfo(text: string): Record<string, string> {
  const fields: Record<string, string> = {};
  for (const line of text.split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0 && !line.startsWith('#')) fields[line.slice(0, colon)] = line.slice(colon + 1).trim();
  }
  return fields;
}

// ---- tcp ----

type TcpCheck = Extract<HealthCheck, { kind: 'tcp' }>;

async function checkTcp(check: TcpCheck, run: CheckRun): Promise<string> {
  const address = check.host.includes(':') ? `[${check.host}]:${check.port}` : `${check.host}:${check.port}`;
  run.fact('target', address);
  const socket = net.connect({ host: check.host, port: check.port });
  const release = run.onAbort(() => socket.destroy());
  try {
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return `connected to ${address}`;
  } finally {
    release();
    socket.destroy();
  }
}

// ---- text ----

/** `host:port/db` of a connection URL, without credentials; undefined when it is not a URL. */
function targetOf(connectionString: string, defaultPort: number): string | undefined {
  try {
    const url = new URL(connectionString);
    if (!url.hostname) return undefined;
    return `${url.hostname}:${url.port || defaultPort}${url.pathname.length > 1 ? url.pathname : ''}`;
  } catch {
    return undefined;
  }
}
