import { Redis } from 'ioredis';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import {
  type EmulatedMessage,
  type RunningEmulator,
  startSlackEmulator,
} from '../../src/sandbox/slackEmulator.js';
import {
  SlackOutcomePendingError,
  SlackRejectedError,
  SlackUnavailableError,
} from '../../src/slack/errors.js';
import { type Post, type Posted, postOnce } from '../../src/slack/postOnce.js';
import { SlackRateLimiter } from '../../src/slack/rateLimiter.js';
import { SlackApi } from '../../src/slack/slackApi.js';
import {
  clearRedisPrefix,
  createTestDatabase,
  redisUrl,
  type TestDatabase,
  uniquePrefix,
} from '../support/services.js';

const TOKEN = 'xoxb-post-once-test';
const CHANNEL = 'C0POSTONCE';
const LIMIT = { perMinute: 6000, burst: 100 };

/** postOnce against a real database and Redis and the emulated Slack, one post at a time. */
describe('postOnce', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let redis: Redis;
  let slack: RunningEmulator;
  let prefix: string;
  let subject = 0;
  beforeAll(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url, max: 2 });
    await migrate(pool);
    redis = new Redis(redisUrl());
  });
  afterAll(async () => {
    await redis?.quit();
    await pool?.end();
    await database?.drop();
  });
  afterEach(async () => {
    await slack.close();
    await clearRedisPrefix(prefix);
  });

  /** A fresh Slack (with these scopes) and a fresh subject to post about. */
  const setUp = async (scopes?: string[]) => {
    slack = await startSlackEmulator({ token: TOKEN, ...(scopes ? { scopes } : {}) });
    prefix = uniquePrefix();
    subject++;
    const deps = {
      slack: new SlackApi(TOKEN, slack.apiUrl),
      limiter: new SlackRateLimiter(redis, prefix),
      limits: { postMessagePerChannel: LIMIT, history: LIMIT },
    };
    const post: Post = {
      eventType: 'incident_root',
      subjectId: subject,
      channel: CHANNEL,
      version: 3,
      entryIds: [11, 12],
      payload: { incident_id: subject },
      message: { text: `incident ${subject}`, blocks: [] },
    };
    const recorded: Posted[] = [];
    const attempt = async (record: (posted: Posted) => Promise<void> = async () => {}) => {
      const client = await pool.connect();
      try {
        return await postOnce(deps, client, post, async (posted) => {
          await record(posted);
          recorded.push(posted);
        });
      } finally {
        client.release();
      }
    };
    return { attempt, recorded };
  };
  const intents = async () =>
    (await pool.query('SELECT count(*)::int AS n FROM slack_post_intents WHERE subject_id = $1', [subject]))
      .rows[0].n;
  const calls = (method: string) => slack.emulator.callsOf(method).length;

  it('adopts a post Slack took before answering 503, found on a later page of the channel', async () => {
    const { attempt, recorded } = await setUp();
    slack.emulator.failNext('chat.postMessage', { status: 503, accepted: true });
    await expect(attempt()).rejects.toBeInstanceOf(SlackUnavailableError);
    expect(await intents()).toBe(1);
    const [taken] = slack.emulator.channelMessages(CHANNEL);
    // Others talk in the channel meanwhile: more than a page of history after it.
    for (let i = 0; i < 250; i++)
      slack.emulator.post(CHANNEL, undefined, { text: `chatter ${i}`, blocks: [] });

    const posted = await attempt();
    expect(posted).toEqual({ ts: taken!.ts, version: 3, entryIds: [11, 12], adopted: true });
    expect(recorded).toEqual([posted]);
    expect(calls('chat.postMessage')).toBe(1);
    expect(calls('conversations.history')).toBe(2);
    expect(await intents()).toBe(0);
  });

  it('adopts its own post when recording it failed, as after a database error', async () => {
    const { attempt } = await setUp();
    await expect(
      attempt(async () => {
        throw new Error('Connection terminated unexpectedly');
      }),
    ).rejects.toThrow('Connection terminated');
    expect(await intents()).toBe(1);
    const posted = await attempt();
    expect(posted.adopted).toBe(true);
    expect(calls('chat.postMessage')).toBe(1);
    expect(slack.emulator.channelMessages(CHANNEL)).toHaveLength(1);
  });

  it('waits rather than post again while a post that got no answer may still be taken by Slack', async () => {
    const { attempt } = await setUp();
    // What a crash or a client timeout leaves: an intent, no answer, and nothing in Slack (yet).
    await pool.query(
      `INSERT INTO slack_post_intents (event_type, subject_id, nonce, channel_id, version)
       VALUES ('incident_root', $1, gen_random_uuid(), $2, 3)`,
      [subject, CHANNEL],
    );
    const waiting = await attempt().catch((err: unknown) => err);
    expect(waiting).toBeInstanceOf(SlackOutcomePendingError);
    expect((waiting as SlackOutcomePendingError).waitMs).toBeGreaterThan(0);
    expect(calls('chat.postMessage')).toBe(0);
    await postsOnceAttemptIsOver(attempt);
  });

  /** Once the attempt is certainly over, not finding it means it was never taken: one post is made. */
  const postsOnceAttemptIsOver = async (attempt: () => Promise<{ adopted: boolean }>) => {
    await pool.query(
      "UPDATE slack_post_intents SET recorded_at = now() - interval '31 seconds' WHERE subject_id = $1",
      [subject],
    );
    expect((await attempt()).adopted).toBe(false);
    expect(slack.emulator.channelMessages(CHANNEL)).toHaveLength(1);
  };

  it('posts again at once when Slack answered 5xx without taking the post', async () => {
    const { attempt } = await setUp();
    slack.emulator.failNext('chat.postMessage', { status: 503 });
    await expect(attempt()).rejects.toBeInstanceOf(SlackUnavailableError);
    expect((await attempt()).adopted).toBe(false);
    expect(slack.emulator.channelMessages(CHANNEL)).toHaveLength(1);
  });

  it("waits rather than post again at once after a proxy's 503, which Slack may yet carry out", async () => {
    const { attempt } = await setUp();
    slack.emulator.failNext('chat.postMessage', { status: 503, byProxy: true });
    await expect(attempt()).rejects.toBeInstanceOf(SlackUnavailableError);
    // Before: posted again at once, as after Slack's own 503, beside the post Slack may still make.
    expect(await attempt().catch((err: unknown) => err)).toBeInstanceOf(SlackOutcomePendingError);
    expect(calls('chat.postMessage')).toBe(1);
    await postsOnceAttemptIsOver(attempt);
  });

  it('posts again without looking when Slack refused the post or said 429', async () => {
    const { attempt } = await setUp();
    slack.emulator.failNext('chat.postMessage', { error: 'invalid_blocks' });
    await expect(attempt()).rejects.toBeInstanceOf(SlackRejectedError);
    slack.emulator.failNext('chat.postMessage', { status: 429, retryAfterSeconds: 0 });
    await expect(attempt()).rejects.toThrow(/rate limited/);
    expect(await intents()).toBe(0);
    expect((await attempt()).adopted).toBe(false);
    expect(calls('conversations.history')).toBe(0);
  });

  it('posts again when it may not read the history (no channels:history yet): a second message, not none', async () => {
    const { attempt } = await setUp(['chat:write']);
    slack.emulator.failNext('chat.postMessage', { status: 500, accepted: true });
    await expect(attempt()).rejects.toBeInstanceOf(SlackUnavailableError);
    expect((await attempt()).adopted).toBe(false);
    expect(slack.emulator.callsOf('conversations.history').map((c) => c.error)).toEqual(['missing_scope']);
    expect(slack.emulator.channelMessages(CHANNEL)).toHaveLength(2);
  });

  /** Leaves one unknown post for each of `subjects` in the test's channel: 503 to each, taken by Slack or not. */
  const leaveUnknown = async (
    deps: Parameters<typeof postOnce>[0],
    subjects: number[],
    taken: (s: number) => boolean,
  ) => {
    for (const s of subjects) {
      slack.emulator.failNext('chat.postMessage', { status: 503, accepted: taken(s) });
      await expect(settleOne(deps, s)).rejects.toBeInstanceOf(SlackUnavailableError);
    }
  };
  const settleOne = async (deps: Parameters<typeof postOnce>[0], s: number) => {
    const client = await pool.connect();
    try {
      return await postOnce(
        deps,
        client,
        {
          eventType: 'incident_root',
          subjectId: s,
          channel: manyChannel,
          version: 1,
          payload: { incident_id: s },
          message: { text: `incident ${s}`, blocks: [] },
        },
        async () => {},
      );
    } finally {
      client.release();
    }
  };
  // A channel of its own for each test: scans stored by another would answer for its posts.
  let manyChannel = '';
  const manySetUp = async (n: number, history = LIMIT) => {
    manyChannel = `C0MANY${subject + 1}`;
    slack = await startSlackEmulator({ token: TOKEN });
    prefix = uniquePrefix();
    const deps = {
      slack: new SlackApi(TOKEN, slack.apiUrl),
      limiter: new SlackRateLimiter(redis, prefix),
      limits: { postMessagePerChannel: LIMIT, history },
    };
    const subjects = Array.from({ length: n }, () => ++subject);
    return { deps, subjects };
  };
  const subjectOf = (m: EmulatedMessage) => Number(m.metadata?.event_payload.incident_id);

  it('settles many unknown posts of a channel with one look at its history, adopting those Slack took and posting the others', async () => {
    const { deps, subjects } = await manySetUp(8);
    const taken = (s: number) => s % 2 === 0;
    await leaveUnknown(deps, subjects, taken);
    expect(slack.emulator.channelMessages(manyChannel)).toHaveLength(subjects.filter(taken).length);
    // The attempts were made a minute ago (long over, as after an outage), not a moment ago.
    await pool.query(
      "UPDATE slack_post_intents SET recorded_at = recorded_at - interval '1 minute' WHERE subject_id = ANY($1)",
      [subjects],
    );
    const takenTs = new Map(slack.emulator.channelMessages(manyChannel).map((m) => [subjectOf(m), m.ts]));

    for (const s of subjects) {
      const posted = await settleOne(deps, s);
      expect(posted.adopted).toBe(taken(s));
      if (taken(s)) expect(posted.ts).toBe(takenTs.get(s));
    }
    expect(calls('conversations.history')).toBe(1);
    // One message each: the taken ones adopted, the others posted once more.
    const shown = slack.emulator
      .channelMessages(manyChannel)
      .map(subjectOf)
      .sort((a, b) => a - b);
    expect(shown).toEqual(subjects);
    expect(calls('chat.postMessage')).toBe(subjects.length + subjects.filter((s) => !taken(s)).length);
    expect(
      (
        await pool.query('SELECT count(*)::int AS n FROM slack_post_intents WHERE subject_id = ANY($1)', [
          subjects,
        ])
      ).rows[0].n,
    ).toBe(0);
  });

  it("does not answer from another post's look for a post whose attempt may still be under way: it looks again", async () => {
    const { deps, subjects } = await manySetUp(2);
    const [early, recent] = subjects as [number, number];
    await leaveUnknown(deps, [early], () => false);
    await pool.query(
      "UPDATE slack_post_intents SET recorded_at = recorded_at - interval '1 minute' WHERE subject_id = $1",
      [early],
    );
    // Recorded a moment before the look, and no answer came (a client timeout): taken by Slack, as an
    // attempt still in flight might be later.
    await leaveUnknown(deps, [recent], () => true);
    await pool.query('UPDATE slack_post_intents SET answered_at = NULL WHERE subject_id = $1', [recent]);
    expect((await settleOne(deps, early)).adopted).toBe(false);
    expect(calls('conversations.history')).toBe(1);
    const posted = await settleOne(deps, recent);
    expect(posted.adopted).toBe(true);
    expect(calls('conversations.history')).toBe(2);
    expect(slack.emulator.channelMessages(manyChannel)).toHaveLength(2);
  });

  it('settles posts that Slack answered 5xx a moment ago with one look: a look begun after the answer answers for each', async () => {
    const { deps, subjects } = await manySetUp(6);
    const taken = (s: number) => s % 2 === 0;
    // Answered just now, as at the end of a short outage: each attempt is over, long before 30 s have passed.
    await leaveUnknown(deps, subjects, taken);
    for (const s of subjects) expect((await settleOne(deps, s)).adopted).toBe(taken(s));
    expect(calls('conversations.history')).toBe(1);
    expect(slack.emulator.channelMessages(manyChannel)).toHaveLength(subjects.length);
  });

  it("settles two lookups with one look when the second waits for the history's next slot: it asks the stored looks again", async () => {
    // A slot every 2 s: the first lookup's scan is stored well before the second's wait is over.
    const history = { perMinute: 30, burst: 1 };
    const { deps, subjects } = await manySetUp(2, history);
    await leaveUnknown(deps, subjects, () => false);
    // The history's one slot is spent (by lookups failing in an outage, say): both wait for the next ones.
    await deps.limiter.take('conversations.history', history);
    await Promise.all(subjects.map((s) => settleOne(deps, s)));
    expect(calls('conversations.history')).toBe(1);
    expect(slack.emulator.channelMessages(manyChannel)).toHaveLength(subjects.length);
  });
});
