import type pg from 'pg';
import type { Logger } from '../observability/logger.js';
import { settledWithin } from '../primitives/withTimeout.js';
import { CONNECTION_TIMEOUT_MS, createPool, giveUpConnection } from './pool.js';

/**
 * What a serving process keeps in memory of what PostgreSQL holds, and forgets as it hears of changes (a
 * trigger's row in `changes` on `channel`, written as the change commits, whichever process made it).
 */
export interface Hearer {
  channel: string;
  /** A change on `channel`, payload as written. */
  told(payload: string): void;
  /** Changes are heard from now on: what was read before may be of one missed. */
  heard(): void;
  /** Changes may go unheard: forget everything, keep nothing until heard() again. */
  lost(): void;
  /** What the process does while changes are heard, and while they may not be: for the log. */
  whileHeard: string;
  whileUnheard: string;
}

/**
 * How often `changes` is read, and how long a read may take: a change is heard up to POLL_EVERY_MS after
 * it commits (plus the read), and a connection gone silent is found within POLL_WAIT_MS.
 */
const POLL_EVERY_MS = 100;
const POLL_WAIT_MS = 2000;
/** The wait before reading again once a read failed, doubled each time it fails, up to the cap. */
const RETRY_MS = 500;
const RETRY_CAP_MS = 30_000;
/**
 * Rows are deleted KEEP_MS after every transaction that wrote them ended (by every process, each by what
 * it read that long ago, every sixth of it). A process whose reads went unanswered for half of it may have
 * missed rows so deleted: it forgets everything and starts again. The other half is the margin.
 */
const KEEP_MS = 60_000;

export interface ChangesDeps {
  connectionString: string;
  hearers: readonly Hearer[];
  logger: Logger;
  /** POLL_EVERY_MS, POLL_WAIT_MS and KEEP_MS unless a test says otherwise. */
  pollEveryMs?: number;
  pollWaitMs?: number;
  keepMs?: number;
}

/**
 * A session of a version before migration 041, listening for NOTIFYs that no longer come: its last
 * statement a LISTEN of alert_groups_changed, or of its probes' channel first (later versions). Seen only
 * by a role that may read its query (the same role, or pg_read_all_stats).
 */
const OLDER_LISTENING = `SELECT count(*)::int AS sessions FROM pg_stat_activity
  WHERE datname = current_database() AND query ~ '^LISTEN (incident_bot_probes|alert_groups_changed)(;|$)'`;

/**
 * The changes of the hearers' channels (`$2`) committed since the last read's snapshot (`$1`): by a
 * transaction still running then (`pg_snapshot_xip`) or begun after (at or above its `xmax`). Each is read
 * once, however late it commits, and however long another transaction runs; those alike in one read once.
 * With the snapshot of this read, for the next, and the oldest transaction still running, for pruning.
 */
const READ = `SELECT pg_current_snapshot()::text AS snapshot,
  pg_snapshot_xmin(pg_current_snapshot())::text AS oldest,
  COALESCE((SELECT json_agg(json_build_array(channel, payload)) FROM (
    SELECT DISTINCT channel, payload FROM changes
     WHERE (xid >= pg_snapshot_xmax($1::pg_snapshot) OR xid = ANY(ARRAY(SELECT pg_snapshot_xip($1::pg_snapshot))))
       AND channel = ANY($2::text[])) changed), '[]'::json) AS rows`;

/**
 * Rows deleted at most by one statement, one after a read while a backlog lasts: small enough to stay
 * well within a read's wait. Rows another process is deleting are left to it, not waited for.
 */
const PRUNE = `DELETE FROM changes WHERE ctid = ANY(ARRAY(
  SELECT ctid FROM changes WHERE xid < $1::xid8 LIMIT $2 FOR UPDATE SKIP LOCKED))`;
const PRUNE_BATCH = 1000;

/**
 * Keeps every hearer told of changes, reading `changes` every POLL_EVERY_MS on a connection of its own (a
 * pool of one, on `connectionString`). A read that fails or does not come back within POLL_WAIT_MS, or one
 * on a connection made again, makes every hearer forget everything: nothing is kept until a read
 * answers, as the next reads from it. Sessions of an older version still listening for NOTIFYs are
 * warned of in the log, as often as rows are pruned. `stop()` ends it.
 */
export function hearChanges(deps: ChangesDeps): { stop(): Promise<void> } {
  const { hearers, logger, pollEveryMs = POLL_EVERY_MS, pollWaitMs = POLL_WAIT_MS, keepMs = KEEP_MS } = deps;
  const maxGapMs = keepMs / 2;
  const pruneEveryMs = keepMs / 6;
  const channels = hearers.map((h) => h.channel);
  // A hearer sharing a channel would never be told: it would keep what it read for good.
  for (const [i, channel] of channels.entries())
    if (channels.indexOf(channel) !== i)
      throw new Error(`changes: channel ${JSON.stringify(channel)} is not one of its own`);
  const byChannel = new Map(hearers.map((h) => [h.channel, h]));
  const pool: pg.Pool = createPool(deps.connectionString, 1, { queryTimeoutMs: pollWaitMs });
  /** The pool's connection while it is open, and once it closed: given up on if it does not close. */
  let connection: { client: pg.ClientBase; closed: Promise<true> } | undefined;
  /** Connections made: a read on another than the last read's may follow a failover (see read). */
  let connections = 0;
  pool.on('connect', (client) => {
    connections += 1;
    const closed = new Promise<true>((resolve) => client.once('end', () => resolve(true)));
    connection = { client, closed };
    void closed.then(() => {
      if (connection?.client === client) connection = undefined;
    });
  });
  let stopping: Promise<void> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let retryMs = RETRY_MS;
  /** The last read answered: its snapshot, its connection, and when it was sent (by both clocks, see gapSince). */
  let last: { snapshot: string; connection: number; sentAt: number; sentAtWall: number } | undefined;
  /** What reads found oldest, and when they were answered: the rows below the oldest keepMs ago go. */
  let oldestSeen: Array<{ oldest: string; at: number }> = [];
  let prunedAt = performance.now();
  /** The bound rows are being deleted below, while a backlog lasts. */
  let pruningBelow: string | undefined;
  let lookedForOlderAt = Number.NEGATIVE_INFINITY;
  let olderWarnedOf = 0;
  let running: Promise<void> = Promise.resolve();
  let wasHeard = false;
  /** Whether changes never heard has been logged: once, until they are. */
  let toldUnheard = false;

  /** Every hearer forgets, each on its own: one that throws is logged, and the others still forget. */
  const allLost = () => {
    for (const h of hearers)
      try {
        h.lost();
      } catch (err) {
        logger.error({ err }, `changes: the hearer of ${h.channel} could not forget`);
      }
  };
  /** Nothing read before is a base for the next read: every hearer forgets, and keeps nothing until one. */
  const forgetAll = () => {
    last = undefined;
    // What was read on another server (a failover, DATABASE_URL changed) must not prune this one's rows.
    oldestSeen = [];
    pruningBelow = undefined;
    prunedAt = performance.now();
    allLost();
  };
  /** Changes may go unheard from now on: every hearer forgets, and it is said, once until heard again. */
  const unheard = (reason: string, err?: unknown) => {
    const said = wasHeard || !toldUnheard;
    const was = wasHeard;
    toldUnheard ||= !wasHeard;
    wasHeard = false;
    if (said)
      logger.warn(
        { err },
        `changes in PostgreSQL ${was ? 'are no longer' : 'cannot be'} heard (${reason}); until they are, ${hearers.map((h) => h.whileUnheard).join(', and ')}`,
      );
    forgetAll();
  };

  /**
   * Once a while: one batch of the rows below the oldest running transaction keepMs ago (one a read while
   * a backlog lasts), and a look for sessions of an older version still listening.
   */
  const tidy = async (now: number) => {
    while (oldestSeen.length > 1 && oldestSeen[1]!.at <= now - keepMs) oldestSeen.shift();
    const below = oldestSeen[0];
    if (pruningBelow === undefined && below && below.at <= now - keepMs && now - prunedAt >= pruneEveryMs) {
      pruningBelow = below.oldest;
      prunedAt = now;
    }
    try {
      if (pruningBelow !== undefined) {
        const { rowCount } = await pool.query(PRUNE, [pruningBelow, PRUNE_BATCH]);
        if ((rowCount ?? 0) < PRUNE_BATCH) pruningBelow = undefined;
      }
      if (now - lookedForOlderAt >= pruneEveryMs) {
        lookedForOlderAt = now;
        const { sessions } = (await pool.query<{ sessions: number }>(OLDER_LISTENING)).rows[0]!;
        if (sessions > 0)
          logger.warn(
            `${sessions} session(s) of a version before migration 041 listen for NOTIFYs, which no longer come: its processes answer from what they read before, until they are stopped`,
          );
        else if (olderWarnedOf > 0)
          logger.info('no session of a version before migration 041 listens any more');
        olderWarnedOf = sessions;
      }
    } catch (err) {
      // Done at a later read: a table that grows for a while is no harm.
      pruningBelow = undefined;
      logger.debug({ err }, 'changes could not be pruned');
    }
  };

  /**
   * How long since the last read answered was sent: the longer of the monotonic clock's (which a clock set
   * back cannot shorten) and the wall clock's (which counts a host suspended, as the other may not).
   */
  const gapSince = (since: NonNullable<typeof last>, now: number) =>
    Math.max(now - since.sentAt, Date.now() - since.sentAtWall);

  const read = async () => {
    const sentAt = performance.now();
    const sentAtWall = Date.now();
    let answer: pg.QueryResult | undefined;
    try {
      answer = await settledWithin(pool.query(READ, [last?.snapshot ?? null, channels]), pollWaitMs);
    } catch (err) {
      return failed('a read failed', err);
    }
    if (stopping) return;
    if (!answer) return failed(`a read did not come back within ${pollWaitMs} ms`);
    try {
      const { snapshot, oldest, rows } = answer.rows[0] as {
        snapshot: string;
        oldest: string;
        rows: [string, string][];
      };
      const answeredAt = performance.now();
      if (last && gapSince(last, answeredAt) > maxGapMs) {
        // Rows this process had yet to read may have been deleted meanwhile: everything is forgotten.
        logger.warn(
          `changes in PostgreSQL went unread for ${Math.round(gapSince(last, answeredAt) / 1000)} s: what was kept is forgotten`,
        );
        forgetAll();
      } else if (last && connections !== last.connection) {
        // The connection was lost between reads and made again: perhaps to a server that took over,
        // without the rows the last one had yet to read.
        logger.warn('changes in PostgreSQL are read on a connection made again: what was kept is forgotten');
        forgetAll();
      }
      if (last) for (const [channel, payload] of rows) byChannel.get(channel)?.told(payload);
      else {
        if (!wasHeard)
          logger.info(`changes in PostgreSQL are heard: ${hearers.map((h) => h.whileHeard).join(', and ')}`);
        wasHeard = true;
        toldUnheard = false;
        for (const h of hearers) h.heard();
      }
      last = { snapshot, connection: connections, sentAt, sentAtWall };
      retryMs = RETRY_MS;
      oldestSeen.push({ oldest, at: answeredAt });
      await tidy(answeredAt);
      next(pollEveryMs);
    } catch (err) {
      // A hearer that threw: what it was told may be lost on it.
      failed('a change could not be told', err);
    }
  };

  /** A read failed, or a hearer threw: every hearer forgets, and the next read is put off. */
  const failed = (reason: string, err?: unknown) => {
    if (stopping) return;
    const wait = retryMs;
    retryMs = Math.min(retryMs * 2, RETRY_CAP_MS);
    next(wait);
    unheard(reason, err);
  };

  /** A read, whatever goes wrong in it: a throw while forgetting is logged, never left unhandled. */
  const readOnce = () => read().catch((err: unknown) => logger.error({ err }, 'changes: a read went wrong'));

  const next = (ms: number) => {
    if (stopping) return;
    timer = setTimeout(() => {
      running = readOnce();
    }, ms);
  };

  const stop = async () => {
    clearTimeout(timer);
    await running;
    allLost();
    const open = connection;
    await pool.end();
    if (open && !(await settledWithin(open.closed, CONNECTION_TIMEOUT_MS))) {
      // A connection gone silent never carries the goodbye: its session is ended from another.
      await giveUpConnection(pool, open.client);
    }
  };

  running = readOnce();
  return {
    stop() {
      stopping ??= stop();
      return stopping;
    },
  };
}
