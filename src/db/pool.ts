import { AsyncLocalStorage } from 'node:async_hooks';
import { createHash } from 'node:crypto';
import type { Socket } from 'node:net';
import pg from 'pg';

export type Pool = pg.Pool;
export type PoolClient = pg.PoolClient;

/**
 * How long to wait for a connection, from the pool or from the server: well under Slack's 3 s, so that a
 * slash command can still answer "try again" and the webhook a 503 while the database is away.
 */
export const CONNECTION_TIMEOUT_MS = 1000;

/**
 * Every client of a pool stayed in use for as long as the caller could wait for one, while the database
 * was answering them: the bot is busy, not the database away. Worth retrying, as a passing outage is.
 */
export class PoolBusyError extends Error {
  readonly code = 'POOL_BUSY';

  constructor(
    readonly clients: number,
    readonly waitedMs: number,
  ) {
    super(`all ${clients} clients of the pool stayed busy for ${waitedMs} ms`);
    this.name = 'PoolBusyError';
  }
}

/** How long the work running now may wait for a busy pool's client, in ms (see withClientWait). */
export interface ClientWait {
  ms: number;
}

const clientWaits = new AsyncLocalStorage<ClientWait>();

/** How the bot's sessions are named in pg_stat_activity. */
const APPLICATION_NAME = 'incident-bot';

/**
 * Runs `work` with its own wait for a busy pool's client, CONNECTION_TIMEOUT_MS otherwise. It is read at
 * each connect, so raising `wait.ms` later holds for the work's connects from then on: a Slack request's,
 * once it is acknowledged and Slack waits for it no more.
 */
export function withClientWait<T>(wait: ClientWait, work: () => T): T {
  return clientWaits.run(wait, work);
}

type ConnectCallback = (err: Error | undefined, client: pg.PoolClient | undefined, done: () => void) => void;

const QUEUE_TIMEOUT = 'timeout exceeded when trying to connect';

/**
 * pg's Pool, whose callers wait for a busy pool's client as long as their work may (withClientWait).
 * pg-pool gives up on a queued caller after its one connectionTimeoutMillis; a caller allowed longer joins
 * the queue again, at its back, as long as the queue moved meanwhile. A queue that did not move in that
 * time is the database not answering (a silent connection, a lock that holds every client), and is left
 * as pg-pool reports it.
 */
class WaitingPool extends pg.Pool {
  /**
   * Clients handed to a caller, so far: the queue is moving while this grows. A client given back is not
   * counted: pg-pool takes one back before finding its connection gone. (pg-pool also counts an idle
   * client it closes at the end of its lifetime, when no caller is waiting.)
   */
  private handedOut = 0;

  constructor(config: pg.PoolConfig) {
    super(config);
    this.on('acquire', () => {
      this.handedOut += 1;
    });
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | undefined {
    if (!callback)
      return new Promise((resolve, reject) => {
        this.connect((err, client) => (err ? reject(err) : resolve(client!)));
      });
    const waitMs = clientWaits.getStore()?.ms ?? CONNECTION_TIMEOUT_MS;
    const started = performance.now();
    const attempt = () => {
      const handedOutBefore = this.handedOut;
      super.connect((err, client, done) => {
        if (err?.message === QUEUE_TIMEOUT && this.handedOut > handedOutBefore) {
          // Each attempt waits connectionTimeoutMillis: another, if a whole one fits in the caller's wait.
          const waited = performance.now() - started;
          if (waited + CONNECTION_TIMEOUT_MS <= waitMs) return attempt();
          return callback(new PoolBusyError(this.options.max, Math.round(waited)), undefined, () => {});
        }
        callback(err, client, done);
      });
    };
    attempt();
    return undefined;
  }
}

/** Texts whose names are kept; past this many, a new text's name is worked out at each use. */
const NAMES_KEPT = 2000;
const statementNames = new Map<string, string>();

/** A name for the statement `text`, the same in every process: a hash of it. */
export function statementName(text: string): string {
  let name = statementNames.get(text);
  if (name === undefined) {
    name = `h:${createHash('sha256').update(text).digest('base64url').slice(0, 32)}`;
    if (statementNames.size < NAMES_KEPT) statementNames.set(text, name);
  }
  return name;
}

/**
 * The statement as a pool's client sends it: one that has values goes named after its text (unless its
 * caller named it), so that PostgreSQL parses it once per connection, and, on a pool that keeps plans,
 * plans it once too. Sent unnamed, `/incident declare`'s took 0.9 ms of PostgreSQL's time; named, 0.55.
 * A statement without values is sent as it is: it may be several, which no name can hold. A caller's
 * name is kept (`name: ''` sends it unnamed, planned afresh at each execution on any pool).
 */
export function asSent(config: unknown, values?: unknown): unknown {
  const given =
    typeof config === 'string' ? { text: config } : (config as pg.QueryConfig & { submit?: unknown });
  const withValues = Array.isArray(values) ? values : given.values;
  return given.name === undefined &&
    typeof given.text === 'string' &&
    typeof given.submit !== 'function' &&
    withValues &&
    withValues.length > 0
    ? { ...given, name: statementName(given.text) }
    : config;
}

/**
 * pg's Client, sending each statement asSent. A query unanswered past its pool's `queryTimeoutMs` is a
 * connection taken for dead: pg fails the query but keeps the connection, with the statement still its
 * active one, so that whatever the client was given next would wait behind it, a transaction's ROLLBACK
 * included, and the pool would take the client back. The client gives it up instead (giveUp).
 */
class NamingClient extends pg.Client {
  /** Told once, with the session's process id, when the client gives up on its connection. */
  whenGivenUp: (processID: number | null) => void = () => {};

  private givenUp = false;

  /**
   * Unqueryable at once, so that the pool discards it when it is released, however soon (pg would mark it
   * so only once the socket's close comes round); the socket reset, unsent bytes dropped, so that a path
   * that comes back cannot deliver the statement after its caller was told it failed. Called from pg's
   * timer: it must not throw.
   */
  giveUp(): void {
    if (this.givenUp) return;
    this.givenUp = true;
    // pg's own flag, which pg-pool reads on release (pg-pool: "expose a proper, public interface").
    const self = this as unknown as {
      _queryable: boolean;
      processID: number | null;
      connection: { stream: Socket };
    };
    self._queryable = false;
    this.whenGivenUp(self.processID);
    try {
      self.connection.stream.resetAndDestroy();
    } catch {
      // Only a TCP socket can be reset: not TLS's, nor a Unix socket.
      self.connection.stream.destroy();
    }
  }
}
const unnamedQuery = pg.Client.prototype.query;
NamingClient.prototype.query = function (
  this: NamingClient,
  config: unknown,
  values?: unknown,
  callback?: unknown,
) {
  const heard = (err: unknown) => {
    if (isQueryReadTimeout(err)) this.giveUp();
  };
  const hearing =
    (answered: (...args: unknown[]) => unknown) =>
    (err: unknown, ...rest: unknown[]) => {
      heard(err);
      return answered(err, ...rest);
    };
  if (typeof values === 'function') values = hearing(values as (...args: unknown[]) => unknown);
  else if (typeof callback === 'function') callback = hearing(callback as (...args: unknown[]) => unknown);
  const result = (unnamedQuery as (...args: unknown[]) => unknown).call(
    this,
    asSent(config, values),
    values,
    callback,
  );
  // Its caller has this promise's failure: this is a branch of its own, handled.
  if (result instanceof Promise) result.catch(heard);
  return result;
} as typeof unnamedQuery;

/**
 * `queryTimeoutMs`: how long a query may go unanswered before it fails, for pools whose queries are all
 * short. A connection that went silent (no reset: a NAT that forgot the flow, some failovers) is otherwise
 * only found by TCP keepalive, after the OS's two hours: a sync holding its lock there would freeze its
 * incident's Slack messages that long.
 *
 * `statementTimeoutMs`: PostgreSQL ends the pool's statements itself after this long, for a pool with
 * writes of a single statement whose callers are told they failed once the client gives up (a delivery
 * answered 503, a command told the database did not answer): set under `queryTimeoutMs`, a statement left
 * waiting on a lock then cannot land, after that answer, once the lock is gone. The ingest's statements
 * need not: they run in transactions, which the client's end rolls back. Nor the syncs': they record
 * what Slack was sent, and one landing late at worst has a message updated again.
 *
 * A named statement is parsed once per connection, and by default planned at each execution: a plan kept
 * (PostgreSQL's generic plan, after five executions) is made for the table as it was, and one made while
 * a table was small scans it whole, as a storm fills it, until the next ANALYZE. `plansKeptForSeconds`
 * keeps them instead, for a pool whose statements are short and many, a person waiting on each (a
 * command's took 0.76 ms to plan and 0.37 ms to run): each connection, with every plan on it, is then
 * closed once it has been open that long (when next idle), so that a plan made on a small table lasts
 * about that long at most, however late the ANALYZE.
 */
export function createPool(
  connectionString: string,
  max = 10,
  options: { queryTimeoutMs?: number; statementTimeoutMs?: number; plansKeptForSeconds?: number } = {},
): pg.Pool {
  const { queryTimeoutMs, statementTimeoutMs, plansKeptForSeconds } = options;
  const settings = plansKeptForSeconds ? [] : ['SET plan_cache_mode = force_custom_plan'];
  if (statementTimeoutMs) settings.push(`SET statement_timeout = ${statementTimeoutMs}`);
  const pool = new WaitingPool({
    Client: NamingClient,
    connectionString,
    max,
    connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
    idleTimeoutMillis: 30_000,
    application_name: APPLICATION_NAME,
    keepAlive: true,
    // Set before the client is handed out, not as a startup option, which PgBouncer refuses.
    ...(settings.length > 0
      ? {
          onConnect: async (client: pg.ClientBase) => {
            await client.query(settings.join('; '));
          },
        }
      : {}),
    ...(plansKeptForSeconds ? { maxLifetimeSeconds: plansKeptForSeconds } : {}),
    ...(queryTimeoutMs ? { query_timeout: queryTimeoutMs } : {}),
  });
  // pg-pool listens for errors only on idle clients. A connection lost while its client is checked out
  // (a sync holding its lock across Slack calls) would emit an unhandled 'error' and end the process; with
  // this listener, kept for the client's whole life, the work using it fails instead, with a transient
  // error its caller retries, and the pool discards the client when it comes back.
  pool.on('connect', (client) => {
    client.on('error', () => {});
    // The session of a connection given up on may hold locks (a transaction's rows) until the server's
    // TCP keepalive gives up, hours later: it is ended from another connection.
    (client as unknown as NamingClient).whenGivenUp = (processID) => void endSession(pool, processID);
  });
  // An idle client losing its connection must not crash the process; the next query reports it.
  pool.on('error', () => {});
  return pool;
}

/**
 * Gives up on the connection of `client`, one of `pool`'s, idle or not, that may have gone silent (see
 * NamingClient.giveUp): its socket reset, and its session ended from a fresh connection once this resolves.
 */
export async function giveUpConnection(pool: pg.Pool, client: pg.ClientBase): Promise<void> {
  if (!(client instanceof NamingClient)) return;
  const { processID } = client as unknown as { processID: number | null };
  // Ended here, awaited, rather than in the background.
  client.whenGivenUp = () => {};
  client.giveUp();
  await endSession(pool, processID);
}

/**
 * Closes a client whose session may still hold locks it could not release (its connection failed or went
 * silent), and ends that session in PostgreSQL from a fresh connection: a silent connection's session
 * would otherwise keep its advisory locks until the server's TCP keepalive gave up, hours later.
 */
export async function discardClient(pool: pg.Pool, client: pg.PoolClient): Promise<void> {
  const { processID } = client as pg.PoolClient & { processID?: number | null };
  client.release(true);
  await endSession(pool, processID);
}

/** pg_terminate_backend answers at once: a connection that does not is given up as soon. */
const END_SESSION_TIMEOUT_MS = 5000;

/**
 * Ends session `processID` in PostgreSQL, if it can, on a connection of its own: not one of `pool`'s,
 * which may all be taken, by callers waiting on the same dead path.
 */
async function endSession(pool: pg.Pool, processID: number | null | undefined): Promise<void> {
  if (!processID) return;
  const client = new pg.Client({
    connectionString: (pool.options as pg.PoolConfig).connectionString,
    connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
    query_timeout: END_SESSION_TIMEOUT_MS,
    application_name: APPLICATION_NAME,
  });
  client.on('error', () => {});
  try {
    await client.connect();
    await client.query('SELECT pg_terminate_backend($1)', [processID]);
  } catch {
    // The server's keepalive ends it in the end.
  } finally {
    client.end().catch(() => undefined);
  }
}

/** Where a transaction takes its client: a pool, or a pool's clients taken in turn (clientsInTurn). */
export interface ClientSource {
  connect(): Promise<pg.PoolClient>;
}

/**
 * `pool`'s clients taken in turn, for work that holds one across a slow call (a silence waits on
 * Alertmanager): no client may come back for seconds, which createPool's pools take for the database not
 * answering. Here a caller waits its turn up to `waitMs`, however long each turn; opening a connection
 * still gives up after CONNECTION_TIMEOUT_MS, and when it fails, the callers waiting fail with it at once
 * rather than each finding the database away in turn. Every client of `pool` must be taken here, for the
 * turns to count.
 */
export function clientsInTurn(pool: pg.Pool, waitMs: number): ClientSource {
  let free = pool.options.max;
  const waiting: Array<{ go(): void; fail(err: unknown): void }> = [];
  const nextTurn = () => {
    const next = waiting.shift();
    if (next) next.go();
    else free += 1;
  };
  const turn = () =>
    new Promise<void>((resolve, reject) => {
      if (free > 0) {
        free -= 1;
        return resolve();
      }
      const timer = setTimeout(() => {
        waiting.splice(waiting.indexOf(waiter), 1);
        reject(new PoolBusyError(pool.options.max, waitMs));
      }, waitMs);
      const waiter = {
        go: () => {
          clearTimeout(timer);
          resolve();
        },
        fail: (err: unknown) => {
          clearTimeout(timer);
          reject(err);
        },
      };
      waiting.push(waiter);
    });
  return {
    async connect() {
      await turn();
      let client: pg.PoolClient;
      try {
        client = await pool.connect();
      } catch (err) {
        for (const waiter of waiting.splice(0)) waiter.fail(err);
        nextTurn();
        throw err;
      }
      const release = client.release;
      client.release = (err) => {
        release(err);
        nextTurn();
      };
      return client;
    },
  };
}

/** Runs `work` in one transaction on one client: all of it commits, or none of it. */
export async function inTransaction<T>(
  pool: ClientSource,
  work: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
  }
}

const TRANSIENT_SQLSTATE_CLASSES = ['08', '53', '57']; // connection, resources, operator intervention
const TRANSIENT_NODE_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/** True when the database is unreachable, restarting or busy: the caller should retry later, not give up. */
export function isTransientDbError(err: unknown): boolean {
  if (err instanceof PoolBusyError) return true;
  const e = err as { code?: string } | undefined;
  if (!e) return false;
  if (typeof e.code === 'string') {
    if (e.code.length === 5 && TRANSIENT_SQLSTATE_CLASSES.includes(e.code.slice(0, 2))) return true;
    if (e.code === '40001' || e.code === '40P01') return true; // serialization failure, deadlock
  }
  return isDatabaseUnreachable(err);
}

/**
 * No client to be had: the database unreachable, or every client of the pool busy past the caller's wait.
 * For work that is only delayed by either, and waits on a steady interval.
 */
export const isDatabaseOutOfReach = (err: unknown): boolean =>
  isDatabaseUnreachable(err) || err instanceof PoolBusyError;

/** A query given a `query_timeout` (pg's read timeout) that went unanswered that long. */
export const isQueryReadTimeout = (err: unknown): boolean =>
  err instanceof Error && err.message === 'Query read timeout';

/**
 * Narrower: no connection to the database, or one lost or being shut down (not disk full, out of memory
 * or a statement timeout, which may last): worth waiting for on a short, steady interval.
 */
export function isDatabaseUnreachable(err: unknown): boolean {
  // A connection gone silent, given up (see NamingClient): a new one is opened for the next try.
  if (isQueryReadTimeout(err)) return true;
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (typeof e.code === 'string') {
    if (TRANSIENT_NODE_CODES.has(e.code)) return true;
    if (e.code.startsWith('08') || /^57P0[1-3]$/.test(e.code)) return true;
  }
  // "not currently accepting connections" is SQLSTATE 55000, a class that holds lasting errors too.
  return /timeout exceeded when trying to connect|Connection terminated|connect ECONNREFUSED|not currently accepting connections|encountered a connection error and is not queryable/i.test(
    e.message ?? '',
  );
}
