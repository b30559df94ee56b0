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
 * The rows at or above `$1` (the oldest transaction still running at the last read), of the hearers'
 * channels, with the same for this read. A transaction that commits after a read began was running at it,
 * so its id is at or above that read's oldest: the next read finds its rows, however late it commits.
 */
const READ = `SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS oldest,
  COALESCE((SELECT json_agg(json_build_array(xid::text, channel, payload)) FROM changes
             WHERE xid >= $1::xid8 AND channel = ANY($2::text[])), '[]'::json) AS rows`;

/**
 * Keeps every hearer told of changes, reading `changes` every POLL_EVERY_MS on a connection of its own (a
 * pool of one, on `connectionString`). A read that fails or does not come back within POLL_WAIT_MS makes
 * every hearer forget everything until one comes back. Nothing is kept before the first read answers: it
 * is what later ones read from. A row read again (its transaction's elder still running) is told once.
 * `stop()` ends it.
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
  /** The oldest transaction running at the last read answered, and when that read was sent. */
  let last: { oldest: string; sentAt: number } | undefined;
  /** The rows told, while their transaction's id is at or above the last read's oldest: read again, not told. */
  const told = new Map<string, bigint>();
  /** What reads found oldest, and when they were answered: the rows below the oldest KEEP_MS ago go. */
  const oldestSeen: Array<{ oldest: string; at: number }> = [];
  let prunedAt = performance.now();
  let running: Promise<void> = Promise.resolve();
  let wasHeard = false;
  /** Whether changes never heard has been logged: once, until they are. */
  let toldUnheard = false;

  const forEach = (what: (h: Hearer) => void) => {
    for (const h of hearers) what(h);
  };
  /** Changes may go unheard from now on: every hearer forgets, and it is said, once until heard again. */
  const unheard = (reason: string, err?: unknown) => {
    forEach((h) => h.lost());
    if (wasHeard || !toldUnheard)
      logger.warn(
        { err },
        `changes in PostgreSQL ${wasHeard ? 'are no longer' : 'cannot be'} heard (${reason}); until they are, ${hearers.map((h) => h.whileUnheard).join(', and ')}`,
      );
    toldUnheard ||= !wasHeard;
    wasHeard = false;
    last = undefined;
    told.clear();
  };

  const prune = async (now: number) => {
    while (oldestSeen.length > 1 && oldestSeen[1]!.at <= now - keepMs) oldestSeen.shift();
    const below = oldestSeen[0];
    if (!below || below.at > now - keepMs || now - prunedAt < pruneEveryMs) return;
    prunedAt = now;
    try {
      await pool.query('DELETE FROM changes WHERE xid < $1::xid8', [below.oldest]);
    } catch (err) {
      // Deleted at the next one: a table that grows for a while is no harm.
      logger.debug({ err }, 'changes could not be pruned');
    }
  };

  const read = async () => {
    const sentAt = performance.now();
    let answer: pg.QueryResult<{ oldest: string; rows: [string, string, string][] }> | undefined;
    try {
      answer = await settledWithin(pool.query(READ, [last?.oldest ?? null, channels]), pollWaitMs);
    } catch (err) {
      return failed('a read failed', err);
    }
    if (stopped) return;
    if (!answer) return failed(`a read did not come back within ${pollWaitMs} ms`);
    const { oldest, rows } = answer.rows[0]!;
    const answeredAt = performance.now();
    if (last && answeredAt - last.sentAt > maxGapMs) {
      // Rows this process had yet to read may have been deleted meanwhile: everything is forgotten.
      logger.warn(
        `changes in PostgreSQL went unread for ${Math.round((answeredAt - last.sentAt) / 1000)} s: what was kept is forgotten`,
      );
      forEach((h) => h.lost());
      last = undefined;
      told.clear();
    }
    if (last) {
      for (const [xid, channel, payload] of rows) {
        const key = `${xid}\n${channel}\n${payload}`;
        if (told.has(key)) continue;
        told.set(key, BigInt(xid));
        byChannel.get(channel)?.told(payload);
      }
      const floor = BigInt(oldest);
      for (const [key, xid] of told) if (xid < floor) told.delete(key);
    } else {
      if (!wasHeard)
        logger.info(`changes in PostgreSQL are heard: ${hearers.map((h) => h.whileHeard).join(', and ')}`);
      wasHeard = true;
      toldUnheard = false;
      forEach((h) => h.heard());
    }
    last = { oldest, sentAt };
    retryMs = RETRY_MS;
    oldestSeen.push({ oldest, at: answeredAt });
    await prune(answeredAt);
    next(pollEveryMs);
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
      stopped = true;
      clearTimeout(timer);
      await running;
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
