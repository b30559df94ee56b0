// The edge floor (issue 18): the least a webhook receiver that stores first and works later can do. It
// parses an Alertmanager notification, commits one INSERT of it into PostgreSQL (a pool of 10) and pushes
// the new row's id onto a Redis list, then answers 200. No validation, no auth, no logging: a floor.
// With FLOOR_LIST unset it pushes nothing: the floor of a receiver whose queue is the table it stores
// into (a Postgres outbox), as the bot's is. Env: DATABASE_URL, REDIS_URL, FLOOR_LIST (the Redis list,
// deleted as the floor stops).
// Prints {"port":…} once listening.
import { createServer } from 'node:http';
import { Redis } from 'ioredis';
import pg from 'pg';

const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 10 });
const list = process.env.FLOOR_LIST;
// One try per command: a floor stopping with Redis gone says so at once rather than retrying.
const redis = list ? new Redis(process.env.REDIS_URL, { maxRetriesPerRequest: 1 }) : undefined;
await pool.query(
  'CREATE TABLE IF NOT EXISTS floor_notifications (id bigserial PRIMARY KEY, group_key text, body jsonb)',
);

const server = createServer((req, res) => {
  const chunks = [];
  req.on('data', (chunk) => chunks.push(chunk));
  req.on('end', async () => {
    try {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      const { rows } = await pool.query(
        'INSERT INTO floor_notifications (group_key, body) VALUES ($1, $2) RETURNING id',
        [body.groupKey, body],
      );
      if (redis) await redis.lpush(list, String(rows[0].id));
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } catch (err) {
      res.writeHead(500).end(String(err));
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(JSON.stringify({ port: server.address().port })));
process.on('SIGTERM', async () => {
  server.close();
  void pool.end();
  // The list is the floor's own, read by nobody, in a Redis others share: it goes with the floor.
  await redis
    ?.del(list)
    .catch((err) => console.error(`edge floor: its list ${list} was not deleted`, err))
    .finally(() => redis.disconnect());
});
