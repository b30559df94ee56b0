import type { Redis } from 'ioredis';
import { SlackRateLimitedError } from './errors.js';

export interface RateLimit {
  perMinute: number;
  burst: number;
}

// GCRA in one round trip, on Redis' clock so that every worker host shares one budget.
// Returns 0 when a call may go now (and spends it), else the milliseconds to wait.
const TAKE = `
local blocked = redis.call('PTTL', KEYS[2])
if blocked > 0 then return blocked end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local newTat = tat + interval
local wait = newTat - now - burst * interval
if wait > 0 then return math.ceil(wait) end
redis.call('SET', KEYS[1], newTat, 'PX', math.ceil(newTat - now) + 1000)
return 0
`;

/**
 * Keeps the bot within Slack's published rate limits before Slack has to say 429, and after a 429 holds
 * every worker off that method for as long as Slack's Retry-After asks.
 */
export class SlackRateLimiter {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  /** Spends one call of `key`'s budget, or throws SlackRateLimitedError saying how long to wait. */
  async take(key: string, limit: RateLimit): Promise<void> {
    const interval = 60_000 / limit.perMinute;
    const wait = Number(
      await this.redis.eval(TAKE, 2, this.key(key), this.key(`${key}:blocked`), interval, limit.burst),
    );
    if (wait > 0) throw new SlackRateLimitedError(key, wait, false);
  }

  async block(key: string, ms: number): Promise<void> {
    await this.redis.set(this.key(`${key}:blocked`), '1', 'PX', Math.max(1, Math.ceil(ms)));
  }

  /** Runs one Slack call under `key`'s budget; a 429 from Slack blocks the key for Retry-After. */
  async run<T>(key: string, limit: RateLimit, call: () => Promise<T>): Promise<T> {
    await this.take(key, limit);
    try {
      return await call();
    } catch (err) {
      if (err instanceof SlackRateLimitedError && err.fromSlack) {
        await this.block(key, err.waitMs);
        throw new SlackRateLimitedError(key, err.waitMs, true);
      }
      throw err;
    }
  }

  private key(name: string): string {
    return `${this.prefix}:slack-rate:${name}`;
  }
}
