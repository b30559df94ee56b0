import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { redisScript } from '../../src/queues/redisScript.js';
import { SlackRateLimiter } from '../../src/slack/rateLimiter.js';
import { clearRedisPrefix, redisUrl, uniquePrefix } from '../support/services.js';

/** The commands `redis` sends while `work` runs, by name, with whether the script's text went with one. */
async function sentDuring(redis: Redis, lua: string | RegExp, work: () => Promise<unknown>) {
  const sent = vi.spyOn(redis, 'sendCommand');
  try {
    await work();
    return sent.mock.calls.map(([command]) => ({
      name: command.name,
      whole: command.args.some((arg) => (typeof lua === 'string' ? arg === lua : lua.test(String(arg)))),
    }));
  } finally {
    sent.mockRestore();
  }
}

describe('a Redis script run by its SHA (real Redis)', () => {
  let redis: Redis;
  const prefix = uniquePrefix();
  beforeAll(() => {
    redis = new Redis(redisUrl());
  });
  afterAll(async () => {
    await clearRedisPrefix(prefix);
    await redis.quit();
  });

  it('is sent whole by its first call on a connection, then by its SHA alone', async () => {
    // A script this Redis has never seen.
    const lua = `-- ${randomBytes(8).toString('hex')}\nreturn redis.call('INCR', KEYS[1]) + tonumber(ARGV[1])`;
    const run = redisScript(redis, `scriptTest${randomBytes(4).toString('hex')}`, 1, lua);
    const key = `${prefix}:counter`;
    const first = await sentDuring(redis, lua, async () => expect(await run(key, 10)).toBe(11));
    expect(first).toContainEqual({ name: 'eval', whole: true });
    const then = await sentDuring(redis, lua, async () => expect(await run(key, 10)).toBe(12));
    expect(then).toEqual([{ name: 'evalsha', whole: false }]);
  });

  it('is sent whole again on a new connection, as after a reconnect', async () => {
    const lua = `-- ${randomBytes(8).toString('hex')}\nreturn tonumber(ARGV[1]) * 2`;
    const run = redisScript(redis, `scriptTest${randomBytes(4).toString('hex')}`, 0, lua);
    expect(await run(2)).toBe(4);
    redis.disconnect(true);
    await new Promise((resolve) => redis.once('ready', resolve));
    const again = await sentDuring(redis, lua, async () => expect(await run(3)).toBe(6));
    expect(again).toContainEqual({ name: 'eval', whole: true });
  });

  it('refuses a name the client has, or one given to another script', () => {
    expect(() => redisScript(redis, 'call', 0, 'return 1')).toThrow(/already has a call/);
    const name = `scriptTest${randomBytes(4).toString('hex')}`;
    redisScript(redis, name, 0, 'return 1');
    expect(() => redisScript(redis, name, 0, 'return 1')).not.toThrow();
    expect(() => redisScript(redis, name, 0, 'return 2')).toThrow(/another script is already named/);
  });

  it("sends the Slack rate limiter's script by its SHA once Redis has it", async () => {
    const limiter = new SlackRateLimiter(redis, prefix);
    const limit = { perMinute: 6000, burst: 100 };
    await limiter.take('sha', limit);
    const sent = await sentDuring(redis, /redis\.call/, async () => {
      await limiter.take('sha', limit);
      await limiter.waitInLine('sha', limit, { first: 'root' });
    });
    expect(sent).toEqual(Array(2).fill({ name: 'evalsha', whole: false }));
  });
});
