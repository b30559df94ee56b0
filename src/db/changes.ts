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

/** Rows deleted by one statement: a backlog goes in as many as it needs, reads between them. */
const PRUNE_BATCH = 10_000;

/**
 * A session of a version before migration 041, listening for NOTIFYs (its probes' channel first): its
 * changes are sent on to it, as NOTIFY, while one is connected, so that it does not keep what it read
 * for good during a rolling upgrade.
 */
const OLDER_LISTENERS = `SELECT EXISTS (SELECT 1 FROM pg_stat_activity
  WHERE datname = current_database() AND query LIKE 'LISTEN incident\\_bot\\_probes;%') AS listening`;

/**
 * Keeps every hearer told of changes, reading `changes` every POLL_EVERY_MS on a connection of its own (a
 * pool of one, on `connectionString`). A read that fails or does not come back within POLL_WAIT_MS makes
 * every hearer forget everything until one comes back. Nothing is kept before the first read answers: it
 * is what later ones read from. `stop()` ends it.
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
  pool.on('connect', (client) => {
    const closed = new Promise<true>((resolve) => client.once('end', () => resolve(true)));
    connection = { client, closed };
    void closed.then(() => {
      if (connection?.client === client) connection = undefined;
    });
  });
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let retryMs = RETRY_MS;
  /** The last read answered: its snapshot, and when it was sent (by both clocks, see gapSince). */
  let last: { snapshot: string; sentAt: number; sentAtWall: number } | undefined;
  /** What reads found oldest, and when they were answered: the rows below the oldest keepMs ago go. */
  let oldestSeen: Array<{ oldest: string; at: number }> = [];
  let prunedAt = performance.now();
  let pruning: Promise<void> = Promise.resolve();
  /** Whether sessions of an older version listen (looked at as often as rows are pruned). */
  let olderListening = false;
  let lookedForOlderAt = Number.NEGATIVE_INFINITY;
  let running: Promise<void> = Promise.resolve();
  let wasHeard = false;
  /** Whether changes never heard has been logged: once, until they are. */
  let toldUnheard = false;

  const forEach = (what: (h: Hearer) => void) => {
    for (const h of hearers) what(h);
  };
  /** Nothing read before is a base for the next read: every hearer forgets, and keeps nothing until one. */
  const forgetAll = () => {
    forEach((h) => h.lost());
    last = undefined;
    // What was read on another server (a failover, DATABASE_URL changed) must not prune this one's rows.
    oldestSeen = [];
    prunedAt = performance.now();
  };
  /** Changes may go unheard from now on: every hearer forgets, and it is said, once until heard again. */
  const unheard = (reason: string, err?: unknown) => {
    forgetAll();
    if (wasHeard || !toldUnheard)
      logger.warn(
        { err },
        `changes in PostgreSQL ${wasHeard ? 'are no longer' : 'cannot be'} heard (${reason}); until they are, ${hearers.map((h) => h.whileUnheard).join(', and ')}`,
      );
    toldUnheard ||= !wasHeard;
    wasHeard = false;
  };

  /** Deletes the rows below the oldest running transaction keepMs ago, in batches, beside the reads. */
  const prune = async (now: number) => {
    while (oldestSeen.length > 1 && oldestSeen[1]!.at <= now - keepMs) oldestSeen.shift();
    const below = oldestSeen[0];
    if (!below || below.at > now - keepMs || now - prunedAt < pruneEveryMs) return;
    prunedAt = now;
    try {
      for (;;) {
        const { rowCount } = await pool.query(
          'DELETE FROM changes WHERE ctid = ANY(ARRAY(SELECT ctid FROM changes WHERE xid < $1::xid8 LIMIT $2))',
          [below.oldest, PRUNE_BATCH],
        );
        if (stopped || (rowCount ?? 0) < PRUNE_BATCH) return;
      }
    } catch (err) {
      // Deleted at the next one: a table that grows for a while is no harm.
      logger.debug({ err }, 'changes could not be pruned');
    }
  };

  /** Sends `rows` on to an older version's sessions as NOTIFY, while any listens (see OLDER_LISTENERS). */
  const sendOnToOlder = async (rows: [string, string][], now: number) => {
    if (now - lookedForOlderAt >= pruneEveryMs) {
      lookedForOlderAt = now;
      olderListening = (await pool.query<{ listening: boolean }>(OLDER_LISTENERS)).rows[0]!.listening;
    }
    if (olderListening && rows.length > 0)
      await pool.query('SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS t(c, p)', [
        rows.map(([channel]) => channel),
        rows.map(([, payload]) => payload),
      ]);
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
    let answer: pg.QueryResult<{ snapshot: string; oldest: string; rows: [string, string][] }> | undefined;
    try {
      answer = await settledWithin(pool.query(READ, [last?.snapshot ?? null, channels]), pollWaitMs);
      if (stopped) return;
      if (!answer) return failed(`a read did not come back within ${pollWaitMs} ms`);
      const { snapshot, oldest, rows } = answer.rows[0]!;
      const answeredAt = performance.now();
      if (last && gapSince(last, answeredAt) > maxGapMs) {
        // Rows this process had yet to read may have been deleted meanwhile: everything is forgotten.
        logger.warn(
          `changes in PostgreSQL went unread for ${Math.round(gapSince(last, answeredAt) / 1000)} s: what was kept is forgotten`,
        );
        forgetAll();
      }
      if (last) for (const [channel, payload] of rows) byChannel.get(channel)?.told(payload);
      else {
        if (!wasHeard)
          logger.info(`changes in PostgreSQL are heard: ${hearers.map((h) => h.whileHeard).join(', and ')}`);
        wasHeard = true;
        toldUnheard = false;
        forEach((h) => h.heard());
      }
      last = { snapshot, sentAt, sentAtWall };
      retryMs = RETRY_MS;
      oldestSeen.push({ oldest, at: answeredAt });
      await sendOnToOlder(rows, answeredAt);
      pruning = pruning.then(() => prune(answeredAt));
      next(pollEveryMs);
    } catch (err) {
      return failed('a read failed', err);
    }
  };

  const failed = (reason: string, err?: unknown) => {
    if (stopped) return;
    unheard(reason, err);
    const wait = retryMs;
    retryMs = Math.min(retryMs * 2, RETRY_CAP_MS);
    next(wait);
  };

  const next = (ms: number) => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = read();
    }, ms);
  };

  running = read();
  return {
    async stop() {
      if (stopped) return;
      stopped = true;
      clearTimeout(timer);
      await Promise.all([running, pruning]);
      forEach((h) => h.lost());
      const open = connection;
      await pool.end();
      if (open && !(await settledWithin(open.closed, CONNECTION_TIMEOUT_MS))) {
        // A connection gone silent never carries the goodbye: its session is ended from another.
        await giveUpConnection(pool, open.client);
      }
    },
  };
}
