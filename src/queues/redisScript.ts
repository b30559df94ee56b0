import type { Redis } from 'ioredis';

type Run = (...args: Array<string | number>) => Promise<unknown>;

/** The scripts defined on each connection, by name: one name is one script. */
const defined = new WeakMap<Redis, Map<string, string>>();

/**
 * Lua script `lua`, with `numberOfKeys` keys first among its arguments, run on `redis` by its SHA: ioredis
 * sends it whole only by a connection's first call and when Redis forgot it (EVALSHA, EVAL on NOSCRIPT).
 * EVAL would send it, and Redis hash it, at every call: the Slack rate limiter's 3 KB at every Slack call.
 */
export function redisScript(redis: Redis, name: string, numberOfKeys: number, lua: string): Run {
  const scripts = defined.get(redis) ?? new Map<string, string>();
  defined.set(redis, scripts);
  const known = scripts.get(name);
  // Defined once per connection: the limiters and version records that share one share its command.
  if (known === undefined) {
    if (name in redis)
      throw new Error(`the Redis client already has a ${name}: a script needs a name of its own`);
    redis.defineCommand(name, { numberOfKeys, lua });
    scripts.set(name, lua);
  } else if (known !== lua) {
    throw new Error(`another script is already named ${name} on this Redis client`);
  }
  const run = (redis as unknown as Record<string, Run>)[name]!;
  return (...args) => run.call(redis, ...args);
}
