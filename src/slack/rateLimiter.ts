import type { Redis } from 'ioredis';
import { redisScript } from '../queues/redisScript.js';
import { SlackRateLimitedError } from './errors.js';

export interface RateLimit {
  perMinute: number;
  burst: number;
}

// How long past its given wait a call going first keeps its claim on the next slot: time for its job to
// come back from the queue. One that never comes back (its worker died) holds the others up this long.
const FIRST_CLAIM_GRACE_MS = 5000;
// The most slots in a row that calls going first take while other calls of the key wait: then the others
// take their turn again, so a storm of new incidents delays a thread's replies but never stops them.
const MAX_SLOTS_GIVEN_WAY = 20;
const GIVEN_WAY_TTL_MS = 10 * 60_000;

// GCRA in one round trip, on Redis' clock so that every worker host shares one budget, with a lane for
// calls that go first. KEYS: the budget, Slack's 429 hold, the calls going first that wait for the budget
// (name → until when their claim stands) and the same in the order they came (name → when), how many
// slots calls going first took in a row while other calls waited, and the named other calls that wait
// (the same two sets).
// ARGV: interval ms, burst, the call's name when it goes first ('' otherwise), the name of another call
// ('' for none), '1' to only look (a call that may go is told 0 and spends nothing; one that must wait
// takes its place as it would).
// Returns 0 when the call may go now (and spends it), else the milliseconds to wait. Waiting calls with a
// name are told to come back one interval apart, in the order they came, rather than all at the next
// slot: only one of them can have it, and each return costs its job a sync's reads. The order only spreads
// their returns (calls going first still have the next slot before the others): a slot nobody came back
// for is taken by the next call to ask.
const TAKE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local first = ARGV[3]
local waiter = ARGV[4]
local looking = ARGV[5] == '1'
-- Claims whose call did not come back in time are dropped, with their place in the order.
local function dropLapsed(claims, order)
  local lapsed = redis.call('ZRANGEBYSCORE', claims, '-inf', now)
  if #lapsed == 0 then return end
  redis.call('ZREMRANGEBYSCORE', claims, '-inf', now)
  -- unpack gives at most about 8,000 values (Lua's stack): a storm of lapsed claims goes in chunks.
  for i = 1, #lapsed, 500 do
    redis.call('ZREM', order, unpack(lapsed, i, math.min(i + 499, #lapsed)))
  end
end
-- Holds a place in the order for a call told to wait: its wait grows by one interval for each call before it.
-- Its claim lapses if it is not back within the grace; a waiter's grace grows with its wait, since a job
-- told to wait long may find its queue busy when it is due.
local function queue(claims, order, name, wait, lenient)
  redis.call('ZADD', order, 'NX', now, name)
  wait = wait + redis.call('ZRANK', order, name) * interval
  local grace = ${FIRST_CLAIM_GRACE_MS}
  if lenient then grace = grace + wait end
  redis.call('ZADD', claims, now + wait + grace, name)
  redis.call('PEXPIRE', claims, ${GIVEN_WAY_TTL_MS})
  redis.call('PEXPIRE', order, ${GIVEN_WAY_TTL_MS})
  return wait
end
dropLapsed(KEYS[3], KEYS[4])
if waiter ~= '' then dropLapsed(KEYS[6], KEYS[7]) end
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local newTat = tat + interval
local wait = math.max(newTat - now - burst * interval, redis.call('PTTL', KEYS[2]))
if first ~= '' then
  -- The run is over: the next slot is the waiting others', however late they come back for it.
  if wait <= 0 and tonumber(redis.call('GET', KEYS[5]) or '-1') >= ${MAX_SLOTS_GIVEN_WAY} then wait = interval end
  if wait > 0 then return math.ceil(queue(KEYS[3], KEYS[4], first, wait, false)) end
  if looking then return 0 end
  redis.call('ZREM', KEYS[3], first)
  redis.call('ZREM', KEYS[4], first)
  if redis.call('EXISTS', KEYS[5]) == 1 and redis.call('INCR', KEYS[5]) >= ${MAX_SLOTS_GIVEN_WAY} then
    -- Held for the others only while they may be coming back: one whose job died must not stop the roots.
    redis.call('PEXPIRE', KEYS[5], interval + ${FIRST_CLAIM_GRACE_MS})
  end
else
  local waiting = redis.call('ZCARD', KEYS[3])
  if waiting > 0 then
    local givenWay = tonumber(redis.call('GET', KEYS[5]) or '-1')
    if givenWay < ${MAX_SLOTS_GIVEN_WAY} then
      if givenWay < 0 then redis.call('SET', KEYS[5], 0, 'PX', ${GIVEN_WAY_TTL_MS}) end
      -- Back when the run ends at the latest, not after every root queued.
      local run = math.min(waiting, ${MAX_SLOTS_GIVEN_WAY} - math.max(givenWay, 0))
      wait = math.max(wait, 0) + run * interval
    end
  end
  if wait > 0 then
    if waiter ~= '' then wait = queue(KEYS[6], KEYS[7], waiter, wait, true) end
    return math.ceil(wait)
  end
  if looking then return 0 end
  redis.call('DEL', KEYS[5])
  if waiter ~= '' then
    redis.call('ZREM', KEYS[6], waiter)
    redis.call('ZREM', KEYS[7], waiter)
  end
end
redis.call('SET', KEYS[1], newTat, 'PX', math.ceil(newTat - now) + 1000)
return 0
`;

export interface Turn {
  /** Names a call that goes first: while it waits for its key's budget, the key's other calls leave it the next slot. */
  first?: string;
  /**
   * Names what another call is for (the incident it syncs, say): while such calls wait, each is told to come
   * back one interval after those that waited before it, rather than all of them at the next slot.
   */
  waiter?: string;
}

/**
 * Keeps the bot within Slack's published rate limits before Slack has to say 429, and after a 429 holds
 * every worker off that method for as long as Slack's Retry-After asks. A call can go first (a new
 * incident's root message ahead of the replies waiting for the same channel), within MAX_SLOTS_GIVEN_WAY.
 */
export class SlackRateLimiter {
  private readonly takeScript;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {
    this.takeScript = redisScript(redis, 'slackRateTake', 7, TAKE);
  }

  /** Spends one call of `key`'s budget, or throws SlackRateLimitedError saying how long to wait. */
  async take(key: string, limit: RateLimit, turn: Turn = {}): Promise<void> {
    const wait = await this.ask(key, limit, turn, false);
    if (wait > 0) throw new SlackRateLimitedError(key, wait, false);
  }

  /**
   * How long a call of `key` taking `turn` would wait now, spending nothing: 0 leaves the turn to the call
   * itself, later. Told to wait, a named call takes its place in line as `take` does. Work that only the
   * call can use is put off until then, rather than done each time it asks.
   */
  async waitInLine(key: string, limit: RateLimit, turn: Turn = {}): Promise<number> {
    return this.ask(key, limit, turn, true);
  }

  /** TAKE, spending the slot unless `looking`; the wait it answers. */
  private async ask(key: string, limit: RateLimit, turn: Turn, looking: boolean): Promise<number> {
    const interval = 60_000 / limit.perMinute;
    return Number(
      await this.takeScript(
        this.key(key),
        this.key(`${key}:blocked`),
        this.key(`${key}:first`),
        this.key(`${key}:first-order`),
        this.key(`${key}:given-way`),
        this.key(`${key}:waiting`),
        this.key(`${key}:waiting-order`),
        interval,
        limit.burst,
        turn.first ?? '',
        turn.first ? '' : (turn.waiter ?? ''),
        looking ? '1' : '',
      ),
    );
  }

  async block(key: string, ms: number): Promise<void> {
    await this.redis.set(this.key(`${key}:blocked`), '1', 'PX', Math.max(1, Math.ceil(ms)));
  }

  /** Runs one Slack call under `key`'s budget; a 429 from Slack blocks the key for Retry-After. */
  async run<T>(key: string, limit: RateLimit, call: () => Promise<T>, turn: Turn = {}): Promise<T> {
    await this.take(key, limit, turn);
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
