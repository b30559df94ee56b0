import type pg from 'pg';
import { asSent } from '../../src/db/pool.js';

/**
 * `pool`, with the text of every statement its clients are sent written down in `sent`, in order, and of
 * those that go unnamed (not prepared: parsed again each time; see asSent) in `unnamed`. One that
 * matches `lost` is not sent, and fails as on a connection lost on its way.
 */
export function countingPool(
  pool: pg.Pool,
  lost?: RegExp,
): { pool: pg.Pool; sent: string[]; unnamed: string[] } {
  const sent: string[] = [];
  const unnamed: string[] = [];
  const counting = Object.create(pool, {
    connect: {
      // Called with a callback by pool.query, and without one by the bot's transactions.
      value: (done?: (err: unknown, client?: pg.PoolClient) => void) => {
        const counted = pool.connect().then((client) => {
          const query = client.query.bind(client);
          return Object.assign(Object.create(client), {
            query: (config: string | { text: string; name?: string }, ...rest: unknown[]) => {
              const text = typeof config === 'string' ? config : config.text;
              sent.push(text);
              const sentAs = asSent(config, rest[0]);
              if (typeof sentAs === 'string' || !(sentAs as { name?: string }).name) unnamed.push(text);
              if (lost?.test(text)) {
                const err = new Error('Connection terminated unexpectedly');
                // pool.query hands its client a callback; a transaction's client awaits the promise.
                const done = rest.at(-1);
                if (typeof done !== 'function') return Promise.reject(err);
                process.nextTick(() => done(err));
                return undefined;
              }
              return (query as (...args: unknown[]) => unknown)(config, ...rest);
            },
          }) as pg.PoolClient;
        });
        if (!done) return counted;
        counted.then((client) => done(undefined, client), done);
      },
    },
  }) as pg.Pool;
  return { pool: counting, sent, unnamed };
}
