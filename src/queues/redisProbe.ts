import { Redis } from 'ioredis';
import { shortReason } from '../primitives/errors.js';

/** What one connection attempt to Redis found, or why it could not be reached. */
export type RedisReading =
  | { reachable: true; version: string; maxmemoryPolicy: string }
  | { reachable: false; problem: string };

/** Connects once, without ioredis's endless reconnecting, and reads the server's version and eviction. */
export async function probeRedis(url: string, timeoutMs = 3000): Promise<RedisReading> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    enableOfflineQueue: false,
    retryStrategy: () => null,
  });
  // connect() rejects with "Connection is closed"; the reason is in the error event before it.
  let reason: unknown;
  redis.on('error', (err) => {
    reason ??= err;
  });
  // connectTimeout covers the TCP connect only: a server that accepts and never answers is cut here.
  const deadline = setTimeout(() => {
    reason ??= Object.assign(new Error(`no answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
    redis.disconnect();
  }, timeoutMs);
  try {
    await redis.connect();
    // INFO rather than CONFIG GET, which managed services often disable.
    const info = await redis.info();
    return {
      reachable: true,
      version: /^redis_version:(\S+)/m.exec(info)?.[1] ?? 'unknown',
      maxmemoryPolicy: /^maxmemory_policy:(\S+)/m.exec(info)?.[1] ?? 'unknown',
    };
  } catch (err) {
    return { reachable: false, problem: shortReason(reason ?? err) };
  } finally {
    clearTimeout(deadline);
    redis.disconnect();
  }
}
