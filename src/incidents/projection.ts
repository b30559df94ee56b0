import type pg from 'pg';
import type { TemplateSet } from '../render/templates.js';
import type { SlackConfig } from '../slack/configSchema.js';
import { SlackRejectedError } from '../slack/errors.js';
import type { SlackRateLimiter } from '../slack/rateLimiter.js';
import type { SlackApi } from '../slack/slackApi.js';
import { rootView, THREAD_KINDS, threadView } from '../views/incident.js';
import {
  type IncidentSnapshot,
  loadAlerts,
  loadSnapshot,
  recordRootMessage,
  recordRootVersion,
} from './incidentStore.js';
import { markEntriesPosted, type TimelineEntry, unpostedEntries } from './timeline.js';

/**
 * Slack is a projection of Postgres (DESIGN.md principle 1). syncIncident makes an incident's Slack
 * messages match its rows: post the root message if missing, update it if behind, and tell the thread
 * whatever happened since the last reply. It reads everything afresh each time, so running it again,
 * after a crash or a 429, picks up exactly where it stopped.
 */

export interface ProjectionDeps {
  pool: pg.Pool;
  slack: SlackApi;
  limiter: SlackRateLimiter;
  templates: TemplateSet;
  config: {
    slack: Pick<SlackConfig, 'rateLimits' | 'syncIntervalMs'>;
    // Spelled out rather than AlertsConfig: alerts/ sits above incidents/.
    alerts: { maxAlertsShown: number };
    // Only the names: the root message offers /health for a service the catalog knows.
    services: Readonly<Record<string, unknown>>;
  };
}

/** Another worker is syncing this incident right now; try again shortly. */
export class SyncBusyError extends Error {
  readonly code = 'SYNC_BUSY';
  constructor(readonly incidentId: number) {
    super(`incident ${incidentId} is being synced by another worker`);
    this.name = 'SyncBusyError';
  }
}

export interface SyncResult {
  /** The incident version Slack now shows; undefined when the incident does not exist. */
  version?: number;
  slackCalls: number;
  /** When the change Slack now shows was recorded: the start of the sync lag. */
  changedAt?: Date;
}

const ENTRY_BATCH = 500;

export async function syncIncident(deps: ProjectionDeps, incidentId: number): Promise<SyncResult> {
  const client = await deps.pool.connect();
  let locked = false;
  try {
    // One syncer per incident, across every worker host; the lock dies with the session if we crash.
    const lock = await client.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock(hashtext('incident-bot:slack-sync'), $1::int) AS locked",
      [incidentId],
    );
    locked = lock.rows[0]!.locked;
    if (!locked) throw new SyncBusyError(incidentId);
    return await syncLocked(deps, client, incidentId);
  } finally {
    if (locked) {
      await client
        .query("SELECT pg_advisory_unlock(hashtext('incident-bot:slack-sync'), $1::int)", [incidentId])
        .catch(() => {});
    }
    client.release();
  }
}

async function syncLocked(deps: ProjectionDeps, db: pg.PoolClient, incidentId: number): Promise<SyncResult> {
  const { config } = deps;
  const limits = config.slack.rateLimits;
  let slackCalls = 0;

  const read = await readConsistent(db, incidentId, config.alerts.maxAlertsShown);
  if (!read) return { slackCalls };
  const { snapshot, lastEntryId, changedAt } = read;
  const { incident } = snapshot;
  // A dedicated channel is still being created: its job syncs once the channel exists.
  const channel = incident.channelId;
  if (!channel) return { slackCalls };
  let rootTs = incident.rootTs;

  const behind =
    !rootTs || incident.rootVersion < incident.version || (await hasUnposted(db, incidentId, lastEntryId));
  if (!behind) return { version: incident.version, slackCalls };
  const done = () => ({ version: incident.version, slackCalls, changedAt });
  // Throttle per incident: what changes while we wait is shown by the one sync after the wait.
  if (config.slack.syncIntervalMs > 0) {
    await deps.limiter.take(`incident:${incidentId}`, {
      perMinute: 60_000 / config.slack.syncIntervalMs,
      burst: 1,
    });
  }

  const root = deps.templates.renderMessage(
    'incident-root',
    rootView(snapshot, new Set(Object.keys(config.services))),
  );
  const postRoot = async () => {
    const posted = await deps.limiter.run(`chat.postMessage:${channel}`, limits.postMessagePerChannel, () =>
      deps.slack.postMessage({ channel: channel, ...root }),
    );
    slackCalls++;
    await recordRootMessage(db, incidentId, posted.ts, incident.version);
    // The new root message already shows everything recorded so far; the thread starts after it.
    if (lastEntryId > 0) await markEntriesPosted(db, incidentId, lastEntryId, posted.ts);
    return posted.ts;
  };

  if (!rootTs) {
    await postRoot();
    return done();
  }
  if (incident.rootVersion < incident.version) {
    try {
      await deps.limiter.run('chat.update', limits.update, () =>
        deps.slack.update({ channel: channel, ts: rootTs!, ...root }),
      );
      slackCalls++;
      await recordRootVersion(db, incidentId, incident.version);
    } catch (err) {
      // Someone deleted the root message: post it again rather than leave the incident invisible.
      if (!(err instanceof SlackRejectedError && err.slackError === 'message_not_found')) throw err;
      rootTs = await postRoot();
      return done();
    }
  }

  for (;;) {
    const entries = (await unpostedEntries(db, incidentId, ENTRY_BATCH)).filter((e) => e.id <= lastEntryId);
    if (entries.length === 0) break;
    const last = entries.at(-1)!;
    const told = entries.filter((e) => THREAD_KINDS.has(e.kind));
    if (told.length === 0) {
      await markEntriesPosted(db, incidentId, last.id, rootTs);
      continue;
    }
    const reply = await renderThreadReply(deps, db, snapshot, told);
    const posted = await deps.limiter.run(`chat.postMessage:${channel}`, limits.postMessagePerChannel, () =>
      deps.slack.postMessage({ channel: channel, threadTs: rootTs!, ...reply }),
    );
    slackCalls++;
    await markEntriesPosted(db, incidentId, last.id, posted.ts);
    if (entries.length < ENTRY_BATCH) break;
  }
  return done();
}

async function hasUnposted(db: pg.PoolClient, incidentId: number, lastEntryId: number): Promise<boolean> {
  const { rows } = await db.query(
    'SELECT 1 FROM timeline_entries WHERE incident_id = $1 AND slack_ts IS NULL AND id <= $2 LIMIT 1',
    [incidentId, lastEntryId],
  );
  return rows.length > 0;
}

/** The incident, its alerts and its newest timeline entry as of one instant. */
async function readConsistent(
  db: pg.PoolClient,
  incidentId: number,
  maxAlertsShown: number,
): Promise<{ snapshot: IncidentSnapshot; lastEntryId: number; changedAt: Date } | undefined> {
  await db.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
  try {
    const snapshot = await loadSnapshot(db, incidentId, maxAlertsShown);
    const { rows } = await db.query<{ last: string | null; changedAt: Date }>(
      `SELECT (SELECT max(id) FROM timeline_entries WHERE incident_id = $1) AS last,
              (SELECT updated_at FROM incidents WHERE id = $1) AS "changedAt"`,
      [incidentId],
    );
    return snapshot
      ? { snapshot, lastEntryId: Number(rows[0]!.last ?? 0), changedAt: rows[0]!.changedAt }
      : undefined;
  } finally {
    await db.query('COMMIT');
  }
}

async function renderThreadReply(
  deps: ProjectionDeps,
  db: pg.PoolClient,
  snapshot: IncidentSnapshot,
  entries: TimelineEntry[],
) {
  const fingerprints = [
    ...new Set(entries.map((e) => e.data.fingerprint).filter((f): f is string => typeof f === 'string')),
  ];
  const alerts = await loadAlerts(db, snapshot.incident.id, fingerprints);
  return deps.templates.renderMessage(
    'incident-thread',
    threadView(snapshot, entries, alerts, deps.config.alerts.maxAlertsShown),
  );
}
