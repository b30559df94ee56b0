import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import pg from 'pg';
import type { Logger } from '../observability/logger.js';
import { settledWithin } from '../primitives/withTimeout.js';
import { CONNECTION_TIMEOUT_MS } from './pool.js';

/**
 * What a serving process keeps in memory of what PostgreSQL holds, and forgets as PostgreSQL tells it of
 * changes (a trigger's NOTIFY on `channel`, sent as the change commits, whichever process made it).
 */
export interface Hearer {
  channel: string;
  /** A notification on `channel`, payload as sent. */
  told(payload: string | undefined): void;
  /** Changes are heard from now on (the line is proved): what was read before may be of one missed. */
  heard(): void;
  /** Changes may go unheard: forget everything, keep nothing until heard() again. */
  lost(): void;
  /** What the process does while changes are heard, and while they may not be: for the log. */
  whileHeard: string;
  whileUnheard: string;
}

/** Where the line's own probes go: a channel of its own, so no hearer ever takes one for a change. */
export const PROBE_CHANNEL = 'incident_bot_probes';
/**
 * How often the line is proved: a notification sent from another session must come back within
 * PROBE_WAIT_MS, and the next goes PROBE_EVERY_MS after it did. A connection gone silent (no reset: a NAT
 * that forgot the flow, some failovers) hears nothing and says so to nobody: this long at most, its
 * repeats are answered as of before what it missed.
 */
const PROBE_EVERY_MS = 2000;
const PROBE_WAIT_MS = 2000;
/** The wait before listening again once the line is lost, doubled each time it fails, up to the cap. */
const RETRY_MS = 500;
const RETRY_CAP_MS = 30_000;

export interface ChangeNotificationsDeps {
  connectionString: string;
  /** Where the probes are sent from: a session other than the one listening, as every change is. */
  probes: pg.Pool;
  hearers: readonly Hearer[];
  logger: Logger;
  /** PROBE_EVERY_MS and PROBE_WAIT_MS unless a test says otherwise. */
  probeEveryMs?: number;
  probeWaitMs?: number;
}

/**
 * Keeps every hearer told of changes, on one connection of its own listening to all their channels: proved
 * by a probe sent from `probes` before anything is kept (a PgBouncer in transaction mode, say, would never
 * bring one back), and proved again every PROBE_EVERY_MS. A line lost or unproved makes every hearer forget
 * everything until it is back. `stop()` closes it.
 */
export function hearChanges(deps: ChangeNotificationsDeps): { stop(): Promise<void> } {
  const { hearers, logger, probeEveryMs = PROBE_EVERY_MS, probeWaitMs = PROBE_WAIT_MS } = deps;
  const channels = [PROBE_CHANNEL, ...hearers.map((h) => h.channel)];
  // LISTEN folds an unquoted name to lower case, and a hearer sharing a channel would never be told: either
  // would leave one keeping what it read for good, the probes proving the line all along.
  for (const [i, channel] of channels.entries())
    if (!/^[a-z_][a-z0-9_]*$/.test(channel) || channels.indexOf(channel) !== i)
      throw new Error(
        `change notifications: channel ${JSON.stringify(channel)} is not a lower-case name of its own`,
      );
  // One statement, so that a listening session is known by its last (see close).
  const LISTEN = channels.map((c) => `LISTEN ${c}`).join('; ');
  const byChannel = new Map(hearers.map((h) => [h.channel, h]));
  let client: pg.Client | undefined;
  let stopped = false;
  let retryMs = RETRY_MS;
  let timer: NodeJS.Timeout | undefined;
  /** The probe on its way: what it says, its wait, and what to do once it is back. */
  let probe: { nonce: string; wait: NodeJS.Timeout; back: () => void } | undefined;
  let wasHeard = false;
  /** Whether a line never proved has been logged: once, until one is proved. */
  let toldUnheard = false;
  /** Lines lost and still closing: stop() waits for them. */
  const closing = new Set<Promise<void>>();

  /**
   * Ends a line. One lost may have left its session behind (a silent path never carries the goodbye),
   * LISTENing, its place in PostgreSQL's notification queue kept until TCP gives up, hours later: its
   * socket is destroyed, and the session ended from another (only it: by its pid and its LISTEN).
   */
  const close = async (line: pg.Client, lost: boolean) => {
    try {
      const ended = line.end().then(
        () => true,
        () => true,
      );
      if ((await settledWithin(ended, CONNECTION_TIMEOUT_MS)) && !lost) return;
      (line as unknown as { connection?: { stream?: Socket } }).connection?.stream?.destroy();
      const { processID } = line as pg.Client & { processID?: number | null };
      if (processID)
        await deps.probes.query(
          `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
            WHERE pid = $1 AND datname = current_database() AND query = $2`,
          [processID, LISTEN],
        );
    } catch {
      // Nothing more to do: the session goes when TCP gives up on it.
    }
  };

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
  };

  const lose = (line: pg.Client, reason: string, err?: unknown) => {
    if (line !== client) return;
    client = undefined;
    clearTimeout(probe?.wait);
    probe = undefined;
    clearTimeout(timer);
    if (stopped) forEach((h) => h.lost());
    else unheard(reason, err);
    const closed = close(line, !stopped);
    closing.add(closed);
    const wait = retryMs;
    retryMs = Math.min(retryMs * 2, RETRY_CAP_MS);
    // Listening again once the lost line's session is gone: never two at once.
    void closed.finally(() => {
      closing.delete(closed);
      if (!stopped && !client) timer = setTimeout(listen, wait);
    });
  };

  const onNotification = (line: pg.Client, message: pg.Notification) => {
    if (message.channel === PROBE_CHANNEL) {
      if (line === client && probe !== undefined && probe.nonce === message.payload) probe.back();
    } else byChannel.get(message.channel)?.told(message.payload);
  };

  const prove = (line: pg.Client) => {
    const nonce = randomUUID();
    probe = {
      nonce,
      wait: setTimeout(() => lose(line, `a probe did not come back within ${probeWaitMs} ms`), probeWaitMs),
      back: () => {
        clearTimeout(probe?.wait);
        probe = undefined;
        if (!wasHeard)
          logger.info(`changes in PostgreSQL are heard: ${hearers.map((h) => h.whileHeard).join(', and ')}`);
        wasHeard = true;
        toldUnheard = false;
        retryMs = RETRY_MS;
        forEach((h) => h.heard());
        timer = setTimeout(() => prove(line), probeEveryMs);
      },
    };
    deps.probes.query('SELECT pg_notify($1, $2)', [PROBE_CHANNEL, nonce]).catch((err: unknown) => {
      // Not sent (the pool busy, say): the line is unproved, not lost. Proved again after a while.
      if (line !== client || probe?.nonce !== nonce) return;
      clearTimeout(probe.wait);
      probe = undefined;
      unheard('a probe could not be sent', err);
      timer = setTimeout(() => prove(line), probeEveryMs);
    });
  };

  const listen = () => {
    if (stopped) return;
    const line = new pg.Client({
      connectionString: deps.connectionString,
      application_name: 'incident-bot',
      keepAlive: true,
      connectionTimeoutMillis: CONNECTION_TIMEOUT_MS,
      // LISTEN unanswered this long: a connection gone silent, tried again.
      query_timeout: probeWaitMs,
    });
    client = line;
    line.on('error', (err) => lose(line, 'the connection failed', err));
    line.on('end', () => lose(line, 'the connection ended'));
    line.on('notification', (message) => onNotification(line, message));
    line
      .connect()
      .then(() => line.query(LISTEN))
      .then(() => {
        if (line === client) prove(line);
      })
      .catch((err: unknown) => lose(line, 'could not listen', err));
  };

  listen();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      if (client) lose(client, 'stopping');
      await Promise.all(closing);
    },
  };
}
