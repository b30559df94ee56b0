import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackRateLimitedError } from '../../src/slack/errors.js';
import { SlackRateLimiter } from '../../src/slack/rateLimiter.js';
import { clearRedisPrefix, redisUrl, uniquePrefix, waitFor } from '../support/services.js';

describe('SlackRateLimiter (real Redis)', () => {
  let redis: Redis;
  const prefix = uniquePrefix();
  let limiter: SlackRateLimiter;
  beforeAll(() => {
    redis = new Redis(redisUrl());
    limiter = new SlackRateLimiter(redis, prefix);
  });
  afterAll(async () => {
    await clearRedisPrefix(prefix);
    await redis.quit();
  });

  const refusal = async (run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (err) {
      if (err instanceof SlackRateLimitedError) return err;
      throw err;
    }
    return undefined;
  };

  it('lets a burst through, then says how long to wait', async () => {
    const limit = { perMinute: 6, burst: 3 }; // one call per 10 s
    for (let i = 0; i < 3; i++) await limiter.take('burst', limit);
    const refused = await refusal(() => limiter.take('burst', limit));
    expect(refused).toBeInstanceOf(SlackRateLimitedError);
    // The next call is due one interval after the first; little of it has passed.
    expect(refused!.waitMs).toBeGreaterThan(5_000);
    expect(refused!.waitMs).toBeLessThanOrEqual(10_000);
    expect(refused!.fromSlack).toBe(false);
  });

  it('tells how long a call would wait, spending nothing, and counts a 429 hold', async () => {
    const limit = { perMinute: 6, burst: 1 }; // one call per 10 s
    expect(await limiter.waitInLine('peek', limit)).toBe(0);
    expect(await limiter.waitInLine('peek', limit)).toBe(0);
    await limiter.take('peek', limit);
    const waitMs = await limiter.waitInLine('peek', limit);
    expect(waitMs).toBeGreaterThan(5_000);
    expect(waitMs).toBeLessThanOrEqual(10_000);
    expect((await refusal(() => limiter.take('peek', limit)))!.waitMs).toBeGreaterThanOrEqual(waitMs - 1000);
    // Within a burst, no wait until the burst is spent.
    const burst = { perMinute: 6, burst: 3 };
    for (let i = 0; i < 3; i++) {
      expect(await limiter.waitInLine('peek-burst', burst)).toBe(0);
      await limiter.take('peek-burst', burst);
    }
    expect(await limiter.waitInLine('peek-burst', burst)).toBeGreaterThan(5_000);
    await limiter.block('peek-held', 30_000);
    expect(await limiter.waitInLine('peek-held', limit)).toBeGreaterThan(20_000);
  });

  it('keeps separate budgets per key', async () => {
    const limit = { perMinute: 1, burst: 1 };
    await limiter.take('chat.postMessage:C1', limit);
    await limiter.take('chat.postMessage:C2', limit);
    expect(await refusal(() => limiter.take('chat.postMessage:C1', limit))).toBeDefined();
  });

  it("holds a key for Slack's Retry-After once Slack has said 429", async () => {
    const limit = { perMinute: 6000, burst: 100 };
    const slack429 = new SlackRateLimitedError('chat.update', 30_000, true);
    const failed = await refusal(() => limiter.run('chat.update', limit, () => Promise.reject(slack429)));
    expect(failed).toMatchObject({ limitKey: 'chat.update', waitMs: 30_000, fromSlack: true });
    let called = false;
    const held = await refusal(() =>
      limiter.run('chat.update', limit, async () => {
        called = true;
      }),
    );
    expect(called).toBe(false);
    expect(held!.waitMs).toBeGreaterThan(25_000);
    expect(held!.waitMs).toBeLessThanOrEqual(30_000);
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('gives the next slot to a call going first, ahead of calls that waited longer', async () => {
    // Intervals long enough that a busy machine does not see a slot free up between two of its steps.
    const limit = { perMinute: 60, burst: 1 };
    await limiter.take('first', limit);
    expect(await refusal(() => limiter.take('first', limit))).toBeDefined();
    // The root arrives later than the reply, while the slot is still taken: it claims the next one.
    const claimed = await refusal(() => limiter.take('first', limit, { first: 'root-1' }));
    expect(claimed!.waitMs).toBeLessThanOrEqual(1000);
    await sleep(1100);
    // The slot is free, but it is the root's: the reply waits at least one more interval.
    const gaveWay = await refusal(() => limiter.take('first', limit));
    expect(gaveWay!.waitMs).toBeGreaterThanOrEqual(1000);
    await limiter.take('first', limit, { first: 'root-1' });
    await sleep(1100);
    // Served, the root claims nothing more: the reply has the next slot.
    await limiter.take('first', limit);
  });

  it('tells calls going first to come back one interval apart, in the order they came', async () => {
    const limit = { perMinute: 60, burst: 1 };
    await limiter.take('order', limit);
    const waits: number[] = [];
    for (const root of ['root-a', 'root-b', 'root-c'])
      waits.push((await refusal(() => limiter.take('order', limit, { first: root })))!.waitMs);
    // Asking again keeps a call's place.
    waits.push((await refusal(() => limiter.take('order', limit, { first: 'root-a' })))!.waitMs);
    expect(waits[1]! - waits[0]!).toBeGreaterThan(900);
    expect(waits[2]! - waits[1]!).toBeGreaterThan(900);
    expect(waits[3]!).toBeLessThanOrEqual(waits[0]!);
  });

  it('lets the other calls through after a bounded run of calls going first', async () => {
    const limit = { perMinute: 300, burst: 1 }; // one call per 200 ms
    await limiter.take('storm', limit);
    let firsts = 0;
    for (;;) {
      // The slot was just taken and a new root waits for the next, as in a storm of new incidents.
      const root = `root-${firsts}`;
      expect(await refusal(() => limiter.take('storm', limit, { first: root }))).toBeDefined();
      await sleep(250);
      if (!(await refusal(() => limiter.take('storm', limit)))) break;
      await limiter.take('storm', limit, { first: root });
      firsts++;
      expect(firsts).toBeLessThan(100);
    }
    expect(firsts).toBeGreaterThan(0);
  });

  it('gives a call that is slow to come back its slot after the bounded run, while calls going first keep coming', async () => {
    const limit = { perMinute: 600, burst: 1 }; // one call per 100 ms
    await limiter.take('flood', limit);
    let taken = 0;
    // Roots come twice as fast as the channel drains, each back exactly when told: a storm of new incidents.
    const root = async (name: string) => {
      for (;;) {
        const refused = await refusal(() => limiter.take('flood', limit, { first: name }));
        if (!refused) return void taken++;
        await sleep(refused.waitMs);
      }
    };
    const roots: Promise<void>[] = [];
    const feeding = (async () => {
      for (let n = 0; n < 60; n++) {
        roots.push(root(`root-${n}`));
        await sleep(50);
      }
    })();
    // A reply whose job does work (a sync's reads, a health check) before it asks again.
    await sleep(300);
    let takenBeforeIt: number | undefined;
    while (takenBeforeIt === undefined) {
      const refused = await refusal(() => limiter.take('flood', limit));
      if (refused) await sleep(refused.waitMs + 60);
      else takenBeforeIt = taken;
    }
    await feeding;
    await Promise.all(roots);
    expect(taken).toBe(60);
    // It asked while a few roots were already through; then at most the bounded run, and a slot or two of slack.
    expect(takenBeforeIt).toBeLessThanOrEqual(30);
  });

  it('tells waiting calls with a name to come back one interval apart, not all at the next slot', async () => {
    // Intervals of 5 s: a busy machine's pauses between two asks are small beside them.
    const limit = { perMinute: 12, burst: 1 };
    await limiter.take('herd', limit);
    const wait = async (waiter?: string) =>
      (await refusal(() => limiter.take('herd', limit, waiter ? { waiter } : {})))!.waitMs;
    // A storm's syncs, each waiting for chat.update: before, every one came back for the same slot.
    const waits = [await wait('incident:1'), await wait('incident:2'), await wait('incident:3')];
    // One interval apart, less what a busy machine took between two asks.
    expect(waits[1]! - waits[0]!).toBeGreaterThan(4000);
    expect(waits[2]! - waits[1]!).toBeGreaterThan(4000);
    // Asking again keeps a call's place; a call without a name is told the next slot.
    expect(await wait('incident:1')).toBeLessThanOrEqual(waits[0]!);
    expect(await wait()).toBeLessThanOrEqual(waits[0]!);
    // The first comes back and goes: the others move up.
    await sleep(waits[0]! + 50);
    await limiter.take('herd', limit, { waiter: 'incident:1' });
    // About one interval, not two: nobody is before it now.
    expect(await wait('incident:2')).toBeLessThan(7500);
  });

  it('tells a named call its turn without spending it, and keeps its place in line when it must wait', async () => {
    const limit = { perMinute: 12, burst: 1 };
    // Its turn now: looking spends nothing, however often; the call itself then takes it.
    expect(await limiter.waitInLine('looked', limit, { waiter: 'incident:1' })).toBe(0);
    expect(await limiter.waitInLine('looked', limit, { waiter: 'incident:1' })).toBe(0);
    await limiter.take('looked', limit, { waiter: 'incident:1' });
    // Spent: told to wait, it takes its place in line, as a refused take does.
    const first = await limiter.waitInLine('looked', limit, { waiter: 'incident:2' });
    expect(first).toBeGreaterThan(4000);
    const second = (await refusal(() => limiter.take('looked', limit, { waiter: 'incident:3' })))!.waitMs;
    expect(second - first).toBeGreaterThan(4000);
    expect(await limiter.waitInLine('looked', limit, { waiter: 'incident:2' })).toBeLessThanOrEqual(first);
  });

  it('drops a named waiter that never came back from the order, in time', async () => {
    const limit = { perMinute: 60, burst: 1 };
    const order = `${prefix}:slack-rate:lapsing:waiting-order`;
    await limiter.take('lapsing', limit);
    await refusal(() => limiter.take('lapsing', limit, { waiter: 'dead-job' }));
    expect(await redis.zscore(order, 'dead-job')).not.toBeNull();
    // Its job died: the waiters that ask later stop counting it once its claim lapsed.
    await waitFor(
      async () => {
        await refusal(() => limiter.take('lapsing', limit, { waiter: 'probe' }));
        return (await redis.zscore(order, 'dead-job')) === null;
      },
      20_000,
      'the dead waiter’s claim to lapse',
    );
  });

  it('gives a slot nobody came back for to the next call that asks', async () => {
    const limit = { perMinute: 60, burst: 1 };
    await limiter.take('spread', limit);
    // The first in line never comes back (its sync found Slack up to date, say); the second does, on time.
    await refusal(() => limiter.take('spread', limit, { waiter: 'gone' }));
    const second = (await refusal(() => limiter.take('spread', limit, { waiter: 'back' })))!.waitMs;
    await sleep(second + 50);
    await limiter.take('spread', limit, { waiter: 'back' });
  });

  it("drops a waiting call's claim on the next slot when it does not come back for it", async () => {
    const limit = { perMinute: 60, burst: 1 };
    await limiter.take('lapse', limit);
    expect(await refusal(() => limiter.take('lapse', limit, { first: 'crashed-root' }))).toBeDefined();
    // Its slot comes, it does not: the others still leave the slot to it for a while.
    await sleep(1100);
    expect(await refusal(() => limiter.take('lapse', limit))).toBeDefined();
    // Its worker died: a few seconds later the others no longer wait for it.
    await waitFor(
      async () => !(await refusal(() => limiter.take('lapse', limit))),
      15_000,
      'the claim to lapse',
    );
  });

  it('drops claims by the thousand when a storm of roots never came back for them', async () => {
    // What a storm of new incidents whose workers died leaves: claims lapsed long ago, in both sets.
    const lapsed = 10_000;
    const since = Date.now() - 60_000;
    const claims = Array.from({ length: lapsed }, (_, i) => [since + i, `root-${i}`] as const);
    await redis.zadd(`${prefix}:slack-rate:crowd:first`, ...claims.flat());
    await redis.zadd(`${prefix}:slack-rate:crowd:first-order`, ...claims.flat());
    // Before, unpacking them all at once failed every call of the key: "too many results to unpack".
    await limiter.take('crowd', { perMinute: 60, burst: 1 });
    expect(await redis.zcard(`${prefix}:slack-rate:crowd:first`)).toBe(0);
    expect(await redis.zcard(`${prefix}:slack-rate:crowd:first-order`)).toBe(0);
  });
});
