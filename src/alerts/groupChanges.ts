import { randomUUID } from 'node:crypto';
import type { Socket } from 'node:net';
import pg from 'pg';
import { CONNECTION_TIMEOUT_MS } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';
import { settledWithin } from '../primitives/withTimeout.js';
import type { ShownDigests } from './shownDigests.js';

/**
 * Where PostgreSQL tells of groups whose repeat may be news (migrations/024_alert_group_changes.sql). A
 * notification's payload is JSON: an array of group keys, null for every group, or a probe's string.
 */
export const GROUP_CHANGES_CHANNEL = 'alert_groups_changed';
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
const LISTEN = `LISTEN ${GROUP_CHANGES_CHANNEL}`;

export interface GroupChangesDeps {
  connectionString: string;
  /** Where the probes are sent from: a session other than the one listening, as every change is. */
  probes: pg.Pool;
  shown: ShownDigests;
  logger: Logger;
  /** PROBE_EVERY_MS and PROBE_WAIT_MS unless a test says otherwise. */
  probeEveryMs?: number;
  probeWaitMs?: number;
}

/**
 * Keeps `shown` told of changed groups, on a connection of its own: listening, then proved by a probe sent
 * from `probes`, before anything is remembered (a PgBouncer in transaction mode, say, would never bring
 * one back), and proved again every PROBE_EVERY_MS. A line lost or unproved makes `shown` forget
 * everything until it is back. `stop()` closes it.
 */
export function hearGroupChanges(deps: GroupChangesDeps): { stop(): Promise<void> } {
  const { shown, logger, probeEveryMs = PROBE_EVERY_MS, probeWaitMs = PROBE_WAIT_MS } = deps;
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

  /** Changes may go unheard from now on: `shown` forgets, and it is said, once until heard again. */
  const unheard = (reason: string, err?: unknown) => {
    shown.lost();
    if (wasHeard || !toldUnheard)
      logger.warn(
        { err },
        `alert group changes ${wasHeard ? 'are no longer' : 'cannot be'} heard (${reason}); every repeat is read until they are`,
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
    if (stopped) shown.lost();
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

  const onNotification = (line: pg.Client, payload: string | undefined) => {
    let said: unknown;
    try {
      said = JSON.parse(payload ?? '');
    } catch {
      said = null;
    }
    if (typeof said === 'string') {
      if (line === client && probe?.nonce === said) probe.back();
    } else if (Array.isArray(said)) shown.changed(said.filter((key) => typeof key === 'string'));
    // null, or a payload this version does not know: every group, to be safe.
    else shown.changedAll();
  };

  const prove = (line: pg.Client) => {
    const nonce = randomUUID();
    probe = {
      nonce,
      wait: setTimeout(() => lose(line, `a probe did not come back within ${probeWaitMs} ms`), probeWaitMs),
      back: () => {
        clearTimeout(probe?.wait);
        probe = undefined;
        if (!wasHeard) logger.info('alert group changes are heard: repeats shown are answered from memory');
        wasHeard = true;
        toldUnheard = false;
        retryMs = RETRY_MS;
        shown.heard();
        timer = setTimeout(() => prove(line), probeEveryMs);
      },
    };
    deps.probes
      .query('SELECT pg_notify($1, $2)', [GROUP_CHANGES_CHANNEL, JSON.stringify(nonce)])
      .catch((err: unknown) => {
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
    line.on('notification', (message) => onNotification(line, message.payload));
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
