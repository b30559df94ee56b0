import { beforeAll, describe, expect, it } from 'vitest';
import { ingestDelivery } from '../../src/alerts/ingest.js';
import { WebhookPayloadSchema } from '../../src/alerts/payload.js';
import { parseFileConfig } from '../../src/config/file.js';
import { inTransaction } from '../../src/db/pool.js';
import { recordPostIntent } from '../../src/db/slackPostIntents.js';
import { type ProjectionDeps, syncIncident } from '../../src/incidents/projection.js';
import { addTimelineEntries } from '../../src/incidents/timeline.js';
import { Metrics } from '../../src/observability/metrics.js';
import type { RunningEmulator } from '../../src/sandbox/slackEmulator.js';
import { SlackOutcomePendingError, SlackRateLimitedError } from '../../src/slack/errors.js';
import { payload } from '../support/alertmanager.js';
import { countingPool } from '../support/countingPool.js';
import { migratedDatabase } from '../support/database.js';
import { slackSide } from '../support/slackSide.js';

const TOKEN = 'xoxb-projection-test';
const CHANNEL = 'C0DEFAULT1';
const LIMIT = '{ perMinute: 6000, burst: 100 }';
// No throttle: each sync here runs at once.
const config = parseFileConfig(
  'test',
  `slack: { defaultChannel: ${CHANNEL}, syncIntervalMs: 0, rateLimits: { postMessagePerChannel: ${LIMIT}, update: ${LIMIT} } }`,
);

/** syncIncident against a real database and Redis and the emulated Slack. */
describe("an incident's sync to Slack", () => {
  const pool = migratedDatabase(4);
  const side = slackSide(TOKEN);
  let slack: RunningEmulator;
  let deps: ProjectionDeps;
  beforeAll(() => {
    const { emulator, ...projection } = side();
    slack = emulator;
    deps = { pool: pool(), ...projection, metrics: new Metrics(), config };
  });

  const opened = async (group: string, as = config) => {
    const result = await inTransaction(pool(), (db) =>
      ingestDelivery(db, as, WebhookPayloadSchema.parse(payload({ group, alerts: [{ instance: 'pod-1' }] }))),
    );
    return result.incident!.id;
  };

  /**
   * Deps posting at most one message every 3 s in `channel` (its incidents' default channel), and what
   * spends the channel's slot: a root posted there. Long enough for the sync that follows to find it spent.
   */
  const oneRootEvery3s = async (channel: string) => {
    const every3s = parseFileConfig(
      'test',
      `slack: { defaultChannel: ${channel}, syncIntervalMs: 0, rateLimits: { postMessagePerChannel: { perMinute: 20, burst: 1 }, update: ${LIMIT} } }`,
    );
    const slow = { ...deps, config: { ...deps.config, slack: every3s.slack } };
    let spent = 0;
    const channelSpent = async () => {
      await syncIncident(slow, await opened(`SlotSpent${channel}${spent++}`, every3s));
    };
    return { slow, every3s, channelSpent };
  };

  it('finds a shown incident in a look for its root, its lock and one read, and takes no transaction for it', async () => {
    const id = await opened('SyncNothingToDo');
    await syncIncident(deps, id);
    const { pool: counting, sent } = countingPool(pool());
    const messages = slack.emulator.allMessages().length;
    expect(await syncIncident({ ...deps, pool: counting }, id)).toMatchObject({ slackCalls: 0 });
    expect(sent).toHaveLength(4);
    expect(sent[0]).toMatch(/root_ts IS NULL/);
    expect(sent[1]).toMatch(/pg_try_advisory_lock/);
    expect(sent[2]).toMatch(/FROM incidents i WHERE id = \$1/);
    expect(sent[3]).toMatch(/pg_advisory_unlock/);
    expect(slack.emulator.allMessages()).toHaveLength(messages);
  });

  it("puts off a new incident's root waiting for its channel's next slot after one short read, and posts it at its turn", async () => {
    const { slow, every3s, channelSpent } = await oneRootEvery3s('C0ONEROOTEVERY3S');
    await channelSpent();
    const id = await opened('SlotAwaited', every3s);
    const { pool: counting, sent } = countingPool(pool());
    const putOff = await syncIncident({ ...slow, pool: counting }, id).catch((err: unknown) => err);
    expect(putOff).toBeInstanceOf(SlackRateLimitedError);
    expect((putOff as SlackRateLimitedError).waitMs).toBeGreaterThan(0);
    // Not the lock, the incident's read or the look for an earlier attempt's post.
    expect(sent).toEqual([expect.stringMatching(/root_ts IS NULL/)]);
    // A timer may fire a millisecond early.
    await new Promise((r) => setTimeout(r, (putOff as SlackRateLimitedError).waitMs + 50));
    expect(await syncIncident(slow, id)).toMatchObject({ slackCalls: 1 });
  });

  it("goes on to look for a root an earlier attempt may have posted, though its channel's budget is spent", async () => {
    const { slow, every3s, channelSpent } = await oneRootEvery3s('C0MAYBEPOSTED');
    const id = await opened('RootMaybePosted', every3s);
    // What a sync that died during its post leaves: finding that post needs no slot of the channel's.
    await inTransaction(pool(), (db) =>
      recordPostIntent(db, {
        eventType: 'incident_root',
        subjectId: id,
        channelId: 'C0MAYBEPOSTED',
        threadTs: null,
        version: 1,
        entryIds: [],
      }),
    );
    await channelSpent();
    const { pool: counting, sent } = countingPool(pool());
    await syncIncident({ ...slow, pool: counting }, id).catch(() => {});
    expect(sent[1]).toMatch(/pg_try_advisory_lock/);
    expect(sent).toContainEqual(expect.stringMatching(/FROM slack_post_intents WHERE event_type = \$1/));
  });

  // Sent at once, the next update could be overtaken by the one still on its way: Slack then showed the
  // older version for good, PostgreSQL holding it shown.
  it('sends no update of the root while one that got no answer may still land, then the newest', async () => {
    const id = await opened('UpdateUnanswered');
    await syncIncident(deps, id);
    const { rows } = await pool().query('SELECT root_ts FROM incidents WHERE id = $1', [id]);
    const shown = () => slack.emulator.message(CHANNEL, rows[0].root_ts)!.text;
    const bump = (severity: string) =>
      pool().query('UPDATE incidents SET severity = $2, version = version + 1 WHERE id = $1', [id, severity]);
    const updates = () => slack.emulator.callsOf('chat.update').length;

    await bump('P1');
    // A gateway's 502: Slack may or may not have it, and may carry it out later.
    slack.emulator.failNext('chat.update', { status: 502 });
    await expect(syncIncident(deps, id)).rejects.toThrow('Slack unavailable');
    await bump('P3');
    // A note meanwhile: the thread, which the late update cannot overtake, is told at once.
    await addTimelineEntries(pool(), id, [
      { kind: 'note', actor: 'U0ALICE', data: { text: 'Paged the DBA' } },
    ]);
    const before = updates();
    const pending = await syncIncident(deps, id).catch((err: unknown) => err);
    expect(pending).toBeInstanceOf(SlackOutcomePendingError);
    expect((pending as SlackOutcomePendingError).waitMs).toBeGreaterThan(25_000);
    expect(updates()).toBe(before);
    expect(JSON.stringify(slack.emulator.threadOf(CHANNEL, rows[0].root_ts))).toContain('Paged the DBA');

    // Past the window, whatever came of the lost one, the newest is sent.
    await pool().query(
      "UPDATE incidents SET update_unsettled_until = now() - interval '1 second' WHERE id = $1",
      [id],
    );
    await syncIncident(deps, id);
    expect(shown()).toContain('P3');
  });

  it('tells the thread an entry recorded after its root was shown', async () => {
    const id = await opened('SyncAnEntryLater');
    await syncIncident(deps, id);
    const { rows } = await pool().query('SELECT root_ts FROM incidents WHERE id = $1', [id]);
    const thread = () =>
      slack.emulator.threadOf(CHANNEL, rows[0].root_ts).map((m) => JSON.stringify(m.blocks));
    const before = thread();
    // Without a new version, as a sync that died after updating the root leaves it: only the entry is behind.
    await addTimelineEntries(pool(), id, [{ kind: 'note', actor: 'U0ALICE', data: { text: 'Rolled back' } }]);
    expect(await syncIncident(deps, id)).toMatchObject({ slackCalls: 1 });
    expect(thread().slice(before.length)).toEqual([expect.stringContaining('Rolled back')]);
  });
});
