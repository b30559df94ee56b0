// The floor of a declare's own work (issue 18): the ack floor (a bare @slack/bolt App behind Bolt's own
// signature check, bolt-floor.mjs) whose /incident listener first does what the bot's `/incident declare`
// must before it acks: the bot's own use case, declareIncident from the built bot (dist/), which is one
// statement (the request's claim, the incident and its first timeline entry, on the bot's schema with its
// triggers) and one queue add (the incident's Slack sync). Its pool and Redis connection are made as the
// bot's requests' are. It has a database of its own (migrated here; no one listens to its notifications)
// and a queue prefix of its own (no worker takes its jobs). Env: SLACK_SIGNING_SECRET, SLACK_BOT_TOKEN,
// SLACK_API_URL, DATABASE_URL, REDIS_URL, QUEUE_PREFIX. Prints {"port":…} once listening.
import { REQUESTS_POOL_OPTIONS, REQUESTS_POOL_SIZE } from '../../dist/app.js';
import { parseFileConfig } from '../../dist/config/file.js';
import { migrateDatabase } from '../../dist/db/migrate.js';
import { createPool } from '../../dist/db/pool.js';
import { declareIncident } from '../../dist/incidents/lifecycle.js';
import { ESCALATION_QUEUE } from '../../dist/queues/escalationJobs.js';
import { HEALTH_QUEUE } from '../../dist/queues/healthJobs.js';
import { INCIDENT_TASKS_QUEUE, QueuedIncidentEffects } from '../../dist/queues/incidentTasks.js';
import { createProducerRedis, createQueue, createSlackSyncQueue } from '../../dist/queues/queues.js';
import { app, listen } from './bolt-floor.mjs';

/** A failed declare's answer: one the bench's client counts as failed (bench/clicks.ts FAILED_ACK). */
const FAILED = 'Something went wrong on our side';

await migrateDatabase(process.env.DATABASE_URL);
const pool = createPool(process.env.DATABASE_URL, REQUESTS_POOL_SIZE, REQUESTS_POOL_OPTIONS);
const redis = createProducerRedis(process.env.REDIS_URL);
// Redis away shows as failed declares (or the wait below), not as ioredis's unhandled-error lines.
redis.on('error', () => {});
// Without an offline queue, an add before Redis is ready fails: the bench waits for the port, and a Redis
// that never answers ends this floor, which fails the bench, rather than hang it.
await new Promise((resolve, reject) => {
  const timer = setTimeout(() => reject(new Error('Redis was not ready within 10 s')), 10_000);
  redis.once('ready', () => {
    clearTimeout(timer);
    resolve();
  });
});
const prefix = process.env.QUEUE_PREFIX;
const queues = [
  createSlackSyncQueue(redis, prefix),
  createQueue(INCIDENT_TASKS_QUEUE, redis, prefix),
  createQueue(ESCALATION_QUEUE, redis, prefix),
  createQueue(HEALTH_QUEUE, redis, prefix),
];
// An add that fails is a failed ack below; a queue's own 'error' event would otherwise end the process.
for (const queue of queues) queue.on('error', () => {});
const [sync, tasks, escalation, health] = queues;
const effects = new QueuedIncidentEffects(sync, tasks, escalation, { pagesChanged: async () => {} }, health, {
  escalation: false,
  autoChecks: false,
  paging: false,
  alertmanagerApi: false,
});
// The bench's bot's config, as far as a declare reads it: its defaults (startBot's config sets none of it).
const config = parseFileConfig('work-floor', 'slack:\n  defaultChannel: C0DEFAULT1\n');
app.command(/.*/, async ({ ack, command }) => {
  const declared = /^declare (P[0-4]) (.*)$/.exec(command.text);
  // Anything else (the Slack path's warm-up) is only acked, as by the ack floor.
  if (!declared) return await ack();
  const [, severity, title] = declared;
  let ref;
  try {
    ({ ref } = await declareIncident(
      { pool, config, effects },
      {
        severity,
        title,
        declaredBy: command.user_id,
        channelId: command.channel_id,
        requestKey: `command:${command.trigger_id}`,
      },
    ));
  } catch (err) {
    console.error(`a declare failed: ${err}`);
    return await ack({ response_type: 'ephemeral', text: FAILED });
  }
  await ack({
    response_type: 'ephemeral',
    text: `Declared ${ref} (${severity}) in this channel. Assign a commander: \`/incident assign ${ref} commander @someone\`.`,
  });
});
// The Slack path's warm-up clicks and forms, acked as by the ack floor.
app.action(/.*/, async ({ ack }) => ack());
app.view(/.*/, async ({ ack }) => ack());
await listen();
