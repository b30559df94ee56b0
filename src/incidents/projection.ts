import type pg from 'pg';
import { markUpdateUnsettled, updateUnsettledMs } from '../db/slackUpdates.js';
import { withSyncLock } from '../db/syncLock.js';
import type { Metrics } from '../observability/metrics.js';
import type { TimelineKind } from '../primitives/timelineKind.js';
import type { TemplateSet } from '../render/templates.js';
import type { SlackConfig } from '../slack/configSchema.js';
import {
  SlackOutcomePendingError,
  SlackRateLimitedError,
  SlackRejectedError,
  SlackUnavailableError,
} from '../slack/errors.js';
import { postOnce, waitForPostTurn } from '../slack/postOnce.js';
import type { SlackRateLimiter } from '../slack/rateLimiter.js';
import type { SlackApi } from '../slack/slackApi.js';
import {
  entriesOneReplyHolds,
  type PlaybookView,
  rootView,
  THREAD_KINDS,
  threadView,
} from '../views/incident.js';
import { channelRefusal, moveToFallbackChannel } from './channelFallback.js';
import {
  channelAwaitingRoot,
  type IncidentSnapshot,
  loadAlerts,
  recordRootMessage,
  recordRootVersion,
  SNAPSHOT_COLUMNS,
  type SnapshotRow,
  snapshotOfRow,
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
  metrics: Metrics;
  config: {
    slack: Pick<SlackConfig, 'rateLimits' | 'syncIntervalMs' | 'defaultChannel'>;
    // Spelled out rather than AlertsConfig: alerts/ sits above incidents/.
    alerts: { maxAlertsShown: number };
    // Only the names: the root message offers /health for a service the catalog knows.
    services: Readonly<Record<string, unknown>>;
    // Only whether it is set: the root message offers silences where Alertmanager is configured.
    alertmanager?: unknown;
  };
  /**
   * The first moves an incident's playbook offers (src/playbooks/, a use case above this one, given by the
   * composition root); none when left out.
   */
  playbookOf?: (incident: IncidentSnapshot['incident']) => PlaybookView | undefined;
  /**
   * The incident's root is gone from where Slack showed it (moved to the default channel, to be posted
   * again): what was recorded of the versions Slack showed (IncidentSyncVersions) no longer means it has a
   * root to update, so its next sync does not wait for chat.update's turn to post one.
   */
  rootGone?: (incidentId: number) => Promise<void>;
}

export interface SyncResult {
  /** The incident version Slack now shows; undefined when the incident does not exist. */
  version?: number;
  slackCalls: number;
  /** When the change Slack now shows was recorded: the start of the sync lag. */
  changedAt?: Date;
  /** Slack refused the bot in the incident's channel with this error: it moved to the default channel. */
  channelRefusal?: string;
}

const ENTRY_BATCH = 500;

/** What the root message itself shows: entries of these kinds recorded before it need no reply. */
const SHOWN_BY_ROOT: ReadonlySet<TimelineKind> = new Set<TimelineKind>([
  'incident_opened',
  'incident_declared',
  'alert_firing',
  'alert_resolved',
]);

/**
 * One sync per incident per syncIntervalMs: what changes while a sync waits is shown by the one after the
 * wait. None when the interval is 0.
 */
function incidentThrottle(slack: Pick<SlackConfig, 'syncIntervalMs'>) {
  if (slack.syncIntervalMs <= 0) return undefined;
  return {
    key: (incidentId: number) => `incident:${incidentId}`,
    limit: { perMinute: 60_000 / slack.syncIntervalMs, burst: 1 },
  };
}

/**
 * Brings Slack up to the incident as the database has it. `rootBehind`: Slack is known to show an older
 * version (IncidentSyncVersions), so the sync updates the root message.
 */
export async function syncIncident(
  deps: ProjectionDeps,
  incidentId: number,
  { rootBehind = false }: { rootBehind?: boolean } = {},
): Promise<SyncResult> {
  // Held by its throttle, or waiting for its turn at chat.update (a storm's updates, beyond Tier 3), a sync
  // is put off before it reads: otherwise each time its job was told to wait cost a lock, a read and a
  // render. Only a saving: should Redis fail, the takes in syncLocked decide.
  const throttle = incidentThrottle(deps.config.slack);
  if (throttle) {
    const wait = await deps.limiter.waitInLine(throttle.key(incidentId), throttle.limit).catch(() => 0);
    if (wait > 0) throw new SlackRateLimitedError(throttle.key(incidentId), wait, false);
  }
  if (rootBehind) {
    const wait = await deps.limiter
      .waitInLine('chat.update', deps.config.slack.rateLimits.update, updateTurn(incidentId))
      .catch(() => 0);
    if (wait > 0) throw new SlackRateLimitedError('chat.update', wait, false);
  } else {
    // A new incident's root waits while its channel's budget is spent (a storm into one channel): its try
    // is put off after one short read, rather than after a lock, the incident's read, a render and a look
    // for an earlier attempt's post, all done again at its turn. Outside the lock, the look may also find
    // unposted a root another sync is posting: the place in line it holds then lapses unused, within its
    // wait and 5 s, and only delays the channel's other posts until then.
    const channel = await channelAwaitingRoot(deps.pool, incidentId);
    if (channel) {
      const { key, wait } = await waitForPostTurn(postDeps(deps), rootPost(incidentId, channel)).catch(
        () => ({ key: '', wait: 0 }),
      );
      if (wait > 0) throw new SlackRateLimitedError(key, wait, false);
    }
  }
  return withSyncLock(
    deps.pool,
    'incident-bot:slack-sync',
    incidentId,
    `incident ${incidentId}`,
    async (client) => {
      try {
        return await syncLocked(deps, client, incidentId);
      } catch (err) {
        const refused = channelRefusal(err);
        if (!refused) throw err;
        if (!(await moveToFallbackChannel(client, incidentId, deps.config.slack.defaultChannel, refused)))
          throw err;
        await deps.rootGone?.(incidentId);
        deps.metrics.slackChannelRefusals.inc({ error: refused });
        return { ...(await syncLocked(deps, client, incidentId)), channelRefusal: refused };
      }
    },
  );
}

/** A root's update waits for chat.update in its incident's place in line. */
const updateTurn = (incidentId: number) => ({ waiter: `incident:${incidentId}` });

/** What postOnce needs of a sync's dependencies. */
const postDeps = (deps: ProjectionDeps) => ({
  slack: deps.slack,
  limiter: deps.limiter,
  limits: deps.config.slack.rateLimits,
});

/** The root message's post, bar what it shows: it goes ahead of the posts waiting for its channel. */
const rootPost = (incidentId: number, channel: string) =>
  ({ eventType: 'incident_root', subjectId: incidentId, channel, goesFirst: true }) as const;

async function syncLocked(deps: ProjectionDeps, db: pg.PoolClient, incidentId: number): Promise<SyncResult> {
  const { config } = deps;
  const limits = config.slack.rateLimits;
  const posts = postDeps(deps);
  let slackCalls = 0;

  const read = await readForSync(db, incidentId, config.alerts.maxAlertsShown);
  if (!read) return { slackCalls };
  const { snapshot, lastEntryId, shownByRoot, hasUnposted, changedAt, rootUpdateUnsettledMs } = read;
  const { incident } = snapshot;
  // A dedicated channel is still being created: its job syncs once the channel exists.
  const channel = incident.channelId;
  if (!channel) return { slackCalls };
  let rootTs = incident.rootTs;
  let rootVersion = incident.rootVersion;

  const behind = !rootTs || incident.rootVersion < incident.version || hasUnposted;
  if (!behind) return { version: incident.version, slackCalls };
  // Spent only by a sync with something to show: one that found nothing to do (no channel yet) delays
  // nobody, though it is put off, above, while the throttle is spent.
  const throttle = incidentThrottle(config.slack);
  if (throttle) await deps.limiter.take(throttle.key(incidentId), throttle.limit);

  const root = deps.templates.renderMessage(
    'incident-root',
    rootView(
      snapshot,
      new Set(Object.keys(config.services)),
      config.alertmanager !== undefined,
      deps.playbookOf?.(snapshot.incident),
    ),
  );
  // Posts the root message, or adopts the one a crashed or timed-out attempt posted.
  const postRoot = async () => {
    const posted = await postOnce(
      posts,
      db,
      {
        ...rootPost(incidentId, channel),
        version: incident.version,
        entryIds: shownByRoot,
        payload: { incident_id: incidentId },
        message: root,
      },
      async ({ ts, version, entryIds }) => {
        await recordRootMessage(db, incidentId, ts, version);
        await markEntriesPosted(db, incidentId, entryIds, ts);
      },
    );
    slackCalls++;
    rootTs = posted.ts;
    rootVersion = posted.version;
  };

  if (!rootTs) await postRoot();
  // A root adopted from an earlier attempt may show an older version, however it came: update it too.
  let reposted = false;
  // An update unanswered may still land: one sent now could be overtaken by it, and Slack would show the
  // older version for good. The root waits; the thread, which it cannot overtake, is told meanwhile.
  const rootHeld = rootVersion < incident.version && rootUpdateUnsettledMs > 0;
  while (!rootHeld && rootVersion < incident.version) {
    try {
      await deps.limiter.run(
        'chat.update',
        limits.update,
        () => deps.slack.update({ channel: channel, ts: rootTs!, ...root }),
        updateTurn(incidentId),
      );
      slackCalls++;
      await recordRootVersion(db, incidentId, incident.version);
      rootVersion = incident.version;
    } catch (err) {
      if (err instanceof SlackUnavailableError && !err.answered)
        await markUpdateUnsettled(db, 'incidents', incidentId);
      // Someone deleted the root message: post it again rather than leave the incident invisible.
      if (reposted || !(err instanceof SlackRejectedError && err.slackError === 'message_not_found'))
        throw err;
      reposted = true;
      await postRoot();
    }
  }

  // The thread tells what the root message does not show, whenever it was recorded.
  for (;;) {
    const unposted = (await unpostedEntries(db, incidentId, ENTRY_BATCH)).filter((e) => e.id <= lastEntryId);
    if (unposted.length === 0) break;
    const entries = unposted.slice(0, entriesOneReplyHolds(unposted, config.alerts.maxAlertsShown));
    const ids = entries.map((e) => e.id);
    const told = entries.filter((e) => THREAD_KINDS.has(e.kind));
    if (told.length === 0) {
      await markEntriesPosted(db, incidentId, ids, rootTs!);
      continue;
    }
    const reply = await renderThreadReply(deps, db, snapshot, told);
    const posted = await postOnce(
      posts,
      db,
      {
        eventType: 'incident_entry',
        subjectId: incidentId,
        channel,
        threadTs: rootTs!,
        version: incident.version,
        entryIds: ids,
        payload: { incident_id: incidentId, entry_id: told[0]!.id },
        message: reply,
      },
      ({ ts, entryIds }) => markEntriesPosted(db, incidentId, entryIds, ts),
    );
    slackCalls++;
    // An adopted reply showed an earlier batch, and one reply may not hold all: read again for the rest.
    if (!posted.adopted && entries.length === unposted.length && unposted.length < ENTRY_BATCH) break;
  }
  if (rootHeld) throw new SlackOutcomePendingError(rootUpdateUnsettledMs);
  return { version: incident.version, slackCalls, changedAt };
}

/**
 * The incident, its alerts and what the sync needs of its timeline, as of one instant: one statement
 * reads as of its start, without a transaction around it.
 */
async function readForSync(
  db: pg.PoolClient,
  incidentId: number,
  maxAlertsShown: number,
): Promise<
  | {
      snapshot: IncidentSnapshot;
      lastEntryId: number;
      shownByRoot: number[];
      hasUnposted: boolean;
      changedAt: Date;
      /** How long an update of the root that got no answer may still land (0: none may). */
      rootUpdateUnsettledMs: number;
    }
  | undefined
> {
  const { rows } = await db.query<
    SnapshotRow & {
      lastEntryId: string | null;
      shownByRoot: number[];
      hasUnposted: boolean;
      changedAt: Date;
      rootUpdateUnsettledMs: number;
    }
  >({
    name: 'sync-read',
    text: `SELECT ${SNAPSHOT_COLUMNS}, i.updated_at AS "changedAt",
            ${updateUnsettledMs('i')} AS "rootUpdateUnsettledMs",
            (SELECT max(id) FROM timeline_entries WHERE incident_id = i.id) AS "lastEntryId",
            (SELECT coalesce(array_agg(id::int), '{}') FROM timeline_entries
              WHERE incident_id = i.id AND slack_ts IS NULL AND kind = ANY($3::text[])) AS "shownByRoot",
            EXISTS (SELECT 1 FROM timeline_entries WHERE incident_id = i.id AND slack_ts IS NULL) AS "hasUnposted"
       FROM incidents i WHERE id = $1`,
    values: [incidentId, maxAlertsShown, [...SHOWN_BY_ROOT]],
  });
  if (!rows[0]) return undefined;
  const { lastEntryId, shownByRoot, hasUnposted, changedAt, rootUpdateUnsettledMs, ...row } = rows[0];
  return {
    snapshot: snapshotOfRow(row),
    lastEntryId: Number(lastEntryId ?? 0),
    shownByRoot,
    hasUnposted,
    changedAt,
    rootUpdateUnsettledMs: rootUpdateUnsettledMs ?? 0,
  };
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
