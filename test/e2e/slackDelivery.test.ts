import { afterEach, describe, expect, it } from 'vitest';
import { enqueueIncidentSync } from '../../src/queues/queues.js';
import { payload } from '../support/alertmanager.js';
import { setDatabaseReachable, waitFor, waitForQueueIdle } from '../support/services.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const CHANNEL = 'C0PAYMENTS';
/** Slack's chat.update budget at one a minute: the first update spends it. */
const ONE_UPDATE_A_MINUTE = DEFAULT_TEST_CONFIG.replace(
  'update: { perMinute: 6000, burst: 100 }',
  'update: { perMinute: 1, burst: 1 }',
);

describe('delivering to Slack through its failures', () => {
  const bots: TestBot[] = [];
  afterEach(async () => {
    for (const bot of bots.splice(0)) await bot.stop();
  });
  const start = async (...args: Parameters<typeof startTestBot>) => {
    const bot = await startTestBot(...args);
    bots.push(bot);
    return bot;
  };

  /** An incident of its own, once Slack shows it and its sync jobs are done. */
  const shownIncident = async (bot: TestBot, group: string) => {
    await bot.deliver(payload({ group, alerts: [{ instance: 'a' }] }));
    await waitFor(() => bot.slack.emulator.channelMessages(CHANNEL).length === 1, 20_000, 'root message');
    await waitForQueueIdle(bot.app.slackSync);
    const { rows } = await bot.app.pool.query<{ id: number; version: number }>(
      'SELECT id::int AS id, version FROM incidents',
    );
    return rows[0]!;
  };

  it('waits out a 429 for as long as Retry-After says, then delivers exactly once', async () => {
    const bot = await start();
    bot.slack.emulator.failNext('chat.postMessage', { status: 429, retryAfterSeconds: 1 });
    await bot.deliver(payload({ group: 'Limited', alerts: [{ instance: 'a' }] }));
    await waitFor(() => bot.slack.emulator.channelMessages(CHANNEL).length === 1, 20_000, 'root message');
    await waitForQueueIdle(bot.app.slackSync);
    const posts = bot.slack.emulator.callsOf('chat.postMessage');
    expect(posts.map((c) => c.status)).toEqual([429, 200]);
    expect(posts[1]!.at - posts[0]!.at).toBeGreaterThanOrEqual(1000);
    expect(bot.slack.emulator.channelMessages(CHANNEL)).toHaveLength(1);
  });

  it('ends a sync queued for a version Slack already shows without the database; a newer one waits for it', async () => {
    const bot = await start();
    const { id, version } = await shownIncident(bot, 'Shown');
    const queued = async (v: number) => !!(await bot.app.slackSync.getJob(`incident-${id}-v${v}`));
    await setDatabaseReachable(bot.database.url, false);
    try {
      // What a burst of changes leaves: a job for each, most of them shown by the first sync that ran.
      await enqueueIncidentSync(bot.app.slackSync, id, version);
      await waitFor(async () => !(await queued(version)), 10_000, 'the shown version’s job to end');
      await enqueueIncidentSync(bot.app.slackSync, id, version + 1);
      // Tried, it waits for the database.
      await waitFor(
        async () => (await bot.app.slackSync.getJob(`incident-${id}-v${version + 1}`))?.isDelayed(),
        10_000,
        'the newer version’s job to wait for the database',
      );
    } finally {
      await setDatabaseReachable(bot.database.url, true);
    }
  });

  it('ends a sync queued for a version older than one queued after it without the database', async () => {
    const bot = await start();
    const { id, version } = await shownIncident(bot, 'Superseded');
    const job = (v: number) => bot.app.slackSync.getJob(`incident-${id}-v${v}`);
    await setDatabaseReachable(bot.database.url, false);
    try {
      // Two changes, queued out of order: the newer job reads (and waits for the database) for both.
      await enqueueIncidentSync(bot.app.slackSync, id, version + 2);
      await waitFor(async () => (await job(version + 2))?.isDelayed(), 10_000, 'the newer job to wait');
      await enqueueIncidentSync(bot.app.slackSync, id, version + 1);
      await waitFor(async () => !(await job(version + 1)), 10_000, 'the older job to end');
      expect(await (await job(version + 2))?.isDelayed()).toBe(true);
    } finally {
      await setDatabaseReachable(bot.database.url, true);
    }
  });

  it('puts off a sync its incident’s throttle holds without the database, for as long as the throttle says', async () => {
    // One sync a minute per incident: the first, which showed it, spent this minute's.
    const bot = await start({
      configYaml: DEFAULT_TEST_CONFIG.replace('syncIntervalMs: 0', 'syncIntervalMs: 60000'),
    });
    const { id, version } = await shownIncident(bot, 'Throttled');
    const job = () => bot.app.slackSync.getJob(`incident-${id}-v${version + 1}`);
    await setDatabaseReachable(bot.database.url, false);
    try {
      await enqueueIncidentSync(bot.app.slackSync, id, version + 1);
      await waitFor(async () => (await job())?.isDelayed(), 10_000, 'the job to be put off');
      // Not tried against the database, which would have put it off for a moment only.
      expect((await job())!.delay).toBeGreaterThan(30_000);
    } finally {
      await setDatabaseReachable(bot.database.url, true);
    }
  });

  it('puts off a sync whose root waits for its turn at chat.update without the database, for as long as that turn is away', async () => {
    // One update a minute: the change below spends this minute's.
    const bot = await start({ configYaml: ONE_UPDATE_A_MINUTE });
    const { id, version } = await shownIncident(bot, 'UpdatesSpent');
    // Changes as the use cases record them, each queueing its sync.
    const change = (v: number) =>
      bot.app.pool.query('UPDATE incidents SET version = $2 WHERE id = $1', [id, v]);
    await change(version + 1);
    await enqueueIncidentSync(bot.app.slackSync, id, version + 1);
    await waitFor(() => bot.slack.emulator.callsOf('chat.update').length === 1, 10_000, 'the update');
    await waitForQueueIdle(bot.app.slackSync);
    await change(version + 2);
    const job = () => bot.app.slackSync.getJob(`incident-${id}-v${version + 2}`);
    await setDatabaseReachable(bot.database.url, false);
    try {
      await enqueueIncidentSync(bot.app.slackSync, id, version + 2);
      await waitFor(async () => (await job())?.isDelayed(), 10_000, 'the job to be put off');
      // Not tried against the database, which would have put it off for a moment only.
      expect((await job())!.delay).toBeGreaterThan(30_000);
    } finally {
      await setDatabaseReachable(bot.database.url, true);
    }
  });

  it("posts a root moved to the default channel without waiting for chat.update's turn, though the first post was refused", async () => {
    // One update a minute: the update that finds the channel archived spends this minute's.
    const bot = await start({ configYaml: ONE_UPDATE_A_MINUTE });
    await shownIncident(bot, 'Moved');
    bot.slack.emulator.refuseChannel(CHANNEL, 'is_archived');
    // Its post in the default channel is told to wait a second: the job that comes back must post it.
    bot.slack.emulator.failNext('chat.postMessage', { status: 429, retryAfterSeconds: 1 });
    await bot.deliver(payload({ group: 'Moved', alerts: [{ instance: 'a' }, { instance: 'b' }] }));
    // Before, it waited for chat.update's next turn, a minute: Slack then still showed the old version.
    await waitFor(
      () => bot.slack.emulator.channelMessages('C0DEFAULT1').length === 1,
      20_000,
      'the root in the default channel',
    );
  });

  it('retries 5xx answers with backoff and delivers exactly once', async () => {
    const bot = await start();
    bot.slack.emulator.failNext('chat.postMessage', { status: 500 }, 2);
    await bot.deliver(payload({ group: 'Flaky', alerts: [{ instance: 'a' }] }));
    await waitFor(() => bot.slack.emulator.channelMessages(CHANNEL).length === 1, 30_000, 'root message');
    await waitForQueueIdle(bot.app.slackSync);
    expect(bot.slack.emulator.callsOf('chat.postMessage').map((c) => c.status)).toEqual([500, 500, 200]);
    expect(bot.slack.emulator.channelMessages(CHANNEL)).toHaveLength(1);
  });

  it('loses nothing when Slack is down and the bot restarts with its Redis jobs gone', async () => {
    const first = await start();
    first.slack.emulator.failNext('chat.postMessage', { status: 503 }, 1000);
    await first.deliver(payload({ group: 'Outage', alerts: [{ instance: 'a' }] }));
    await first.deliver(payload({ group: 'Outage', alerts: [{ instance: 'a' }, { instance: 'b' }] }));
    await waitFor(
      () => first.slack.emulator.callsOf('chat.postMessage').length > 0,
      20_000,
      'a first attempt',
    );
    bots.splice(bots.indexOf(first), 1);
    await first.stop({ keepDatabase: true });

    // Same database, a fresh Redis prefix (as if Redis lost everything) and a Slack that works again.
    const second = await start({ database: first.database });
    const root = await waitFor(
      () => second.slack.emulator.channelMessages(CHANNEL)[0],
      20_000,
      'root after restart',
    );
    expect(JSON.stringify(root.blocks)).toContain('2 firing, 0 resolved');
    await waitForQueueIdle(second.app.slackSync);
    expect(second.slack.emulator.channelMessages(CHANNEL)).toHaveLength(1);
    // The root message shows both alerts; nothing is left for the thread to tell.
    const { rows } = await second.app.pool.query(
      'SELECT count(*)::int AS n FROM timeline_entries WHERE slack_ts IS NULL',
    );
    expect(rows[0].n).toBe(0);
  });

  it('posts the root message again if someone deleted it', async () => {
    const bot = await start();
    await bot.deliver(payload({ group: 'Deleted', alerts: [{ instance: 'a' }] }));
    await waitFor(() => bot.slack.emulator.channelMessages(CHANNEL).length === 1, 20_000, 'root message');
    await waitForQueueIdle(bot.app.slackSync);
    bot.slack.emulator.failNext('chat.update', { error: 'message_not_found' });
    await bot.deliver(payload({ group: 'Deleted', alerts: [{ instance: 'a' }, { instance: 'b' }] }));
    await waitFor(
      () => bot.slack.emulator.channelMessages(CHANNEL).length === 2,
      20_000,
      'a new root message',
    );
    expect(JSON.stringify(bot.slack.emulator.channelMessages(CHANNEL)[1]!.blocks)).toContain('2 firing');
  });
});
