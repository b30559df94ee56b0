import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SlackRateLimitedError } from '../../src/slack/errors.js';
import { SlackRateLimiter } from '../../src/slack/rateLimiter.js';
import { clearRedisPrefix, redisUrl, uniquePrefix } from '../support/services.js';

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
});
