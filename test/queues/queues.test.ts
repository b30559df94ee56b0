import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createProducerRedis,
  createQueue,
  createWorkerRedis,
  DEMOTED_RESENDS,
  isTransientQueueError,
} from '../../src/queues/queues.js';
import { unusedPort, waitFor } from '../support/services.js';

/**
 * A Redis failover as the bot's connections live it: the primary they are on is demoted to replica and
 * keeps them open, refusing their writes, while the address leads a new connection to the new primary
 * (here the same server, promoted again). A redis-server of the test's own, on a free port: the shared one
 * is never demoted.
 */
describe("Redis failing over under the bot's connections", () => {
  let server: ChildProcess | undefined;
  let url: string;
  let admin: Redis;
  const opened: Redis[] = [];

  beforeAll(async () => {
    const port = await unusedPort();
    server = spawn(
      'redis-server',
      ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
      { stdio: 'ignore' },
    );
    url = `redis://127.0.0.1:${port}`;
    admin = new Redis(url);
    // Refused until the server listens: tried again meanwhile.
    admin.on('error', () => {});
    await admin.ping();
  });
  afterEach(async () => {
    for (const redis of opened.splice(0)) redis.disconnect();
    await promote();
  });
  afterAll(async () => {
    admin?.disconnect();
    if (server && server.exitCode === null) {
      server.kill('SIGKILL');
      await once(server, 'exit');
    }
  });

  /** Demoted to replica of a primary that is not there: writes refused, as on a failover's old primary. */
  const demote = async () => admin.replicaof('127.0.0.1', await unusedPort());
  const promote = () => admin.replicaof('NO', 'ONE');
  const ready = async (redis: Redis) => {
    opened.push(redis);
    if (redis.status !== 'ready') await once(redis, 'ready');
    return redis;
  };
  const clientId = (redis: Redis) => redis.client('ID');

  it("refuses a producer's queueing as an outage, and its connection is made again", async () => {
    const redis = await ready(createProducerRedis(url));
    const before = await clientId(redis);
    await demote();
    // A replica cut from its primary, told not to serve stale data, refuses reads too.
    await admin.config('SET', 'replica-serve-stale-data', 'no');
    const read = await redis.get('k').catch((err: Error) => err);
    expect(read).toMatchObject({ message: expect.stringMatching(/^MASTERDOWN /) });
    expect(isTransientQueueError(read)).toBe(true);
    await admin.config('SET', 'replica-serve-stale-data', 'yes');

    const queue = createQueue<{ n: number }>('failover', redis, 'failover');
    const queued = await queue.add('j', { n: 1 }).catch((err: Error) => err);
    await queue.close();
    expect(queued).toMatchObject({ message: expect.stringMatching(/^READONLY /) });
    expect(isTransientQueueError(queued)).toBe(true);
    await promote();
    // On a new connection: where the address leads now, the new primary.
    await waitFor(
      async () => (await clientId(redis).catch(() => before)) !== before,
      10_000,
      'a new connection',
    );
  });

  it("waits out the demotion on a worker's connection, and writes on a new one", async () => {
    const redis = await ready(createWorkerRedis(url));
    const before = await clientId(redis);
    await demote();
    const written = redis.set('k', 'after failover');
    const first = await Promise.race([
      written.then(
        () => 'written',
        (err: Error) => err.message,
      ),
      once(redis, 'reconnecting').then(() => 'connecting again'),
    ]);
    expect(first).toBe('connecting again');
    await promote();
    expect(await written).toBe('OK');
    expect(await admin.get('k')).toBe('after failover');
    expect(await clientId(redis)).not.toBe(before);
  });

  it('gives up resending on a worker connection the address keeps leading to a replica, and says so', async () => {
    const redis = await ready(createWorkerRedis(url));
    await demote();
    let reconnects = 0;
    redis.on('reconnecting', () => reconnects++);
    // A misconfiguration, or a DNS record not updated: every new connection reaches the replica again.
    const written = await redis.set('failover:k', 'v').then(
      () => 'written',
      (err: Error) => err.message,
    );
    // Before: connected again and resent for as long as it lasted, 19 times in 3 s, failing nothing.
    expect(written).toMatch(/^READONLY /);
    expect(reconnects).toBeLessThanOrEqual(DEMOTED_RESENDS + 1);
  });

  it('gives each connection BullMQ duplicates a budget of its own: a failover under six loses no write', async () => {
    const main = await ready(createWorkerRedis(url));
    // Each Worker given the bot's connection duplicates it for its blocking one.
    const connections = [main, ...(await Promise.all([1, 2, 3, 4, 5].map(() => ready(main.duplicate()))))];
    await demote();
    const reconnected = connections.map((c) => once(c, 'reconnecting'));
    const writes = connections.map((c, i) =>
      c.set(`failover:${i}`, 'v').then(
        () => 'OK',
        (err: Error) => err.message,
      ),
    );
    await Promise.all(reconnected);
    await promote();
    // Before: one budget for all six, spent by the first five; the sixth write failed with READONLY.
    expect(await Promise.all(writes)).toEqual(Array(6).fill('OK'));
  });

  it.each([
    'LOADING Redis is loading the dataset in memory',
    'TRYAGAIN Multiple keys request during rehashing of slot',
    'CLUSTERDOWN The cluster is down',
  ])('takes Redis answering "%s" for an outage', (message) => {
    expect(isTransientQueueError(new Error(message))).toBe(true);
  });
});
