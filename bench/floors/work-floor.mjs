// The floor of a declare's own work (issue 18): the ack floor (a bare @slack/bolt App behind Bolt's own
// signature check, bolt-floor.mjs) whose /incident listener first does what the bot's `/incident declare`
// must before it acks: the bot's own use case, declareIncident from the built bot (dist/), which is one
// statement (the request's claim, the incident and its first timeline entry, on the bot's schema with its
// triggers) and one queue add (the incident's Slack sync). Its pool and Redis connection are made as the
// bot's requests' are. It has a database of its own (migrated here; no one listens to its notifications)
// and a queue prefix of its own (no worker takes its jobs). What the bot does beyond this before it acks
// is its own request path: its receiver, parsing, routing, log lines. Env: SLACK_SIGNING_SECRET,
// SLACK_BOT_TOKEN, SLACK_API_URL, DATABASE_URL, REDIS_URL, QUEUE_PREFIX. Prints {"port":…} once listening.
import { parseFileConfig } from '../../dist/config/file.js';
import { migrateDatabase } from '../../dist/db/migrate.js';
import { createPool } from '../../dist/db/pool.js';
import { declareIncident } from '../../dist/incidents/lifecycle.js';
import { ESCALATION_QUEUE } from '../../dist/queues/escalationJobs.js';
import { HEALTH_QUEUE } from '../../dist/queues/healthJobs.js';
import { INCIDENT_TASKS_QUEUE, QueuedIncidentEffects } from '../../dist/queues/incidentTasks.js';
import { createProducerRedis, createQueue, createSlackSyncQueue } from '../../dist/queues/queues.js';
import { app, listen } from './bolt-floor.mjs';

await migrateDatabase(process.env.DATABASE_URL);
// As the bot's requests' pool (src/app.ts): its timeouts, and plans kept 60 s.
const pool = createPool(process.env.DATABASE_URL, 10, {
  queryTimeoutMs: 10_000,
  statementTimeoutMs: 8000,
  plansKeptForSeconds: 60,
});
const redis = createProducerRedis(process.env.REDIS_URL);
await new Promise((resolve) => redis.once('ready', resolve));
const prefix = process.env.QUEUE_PREFIX;
const tasks = createQueue(INCIDENT_TASKS_QUEUE, redis, prefix);
const effects = new QueuedIncidentEffects(
  createSlackSyncQueue(redis, prefix),
  tasks,
  createQueue(ESCALATION_QUEUE, redis, prefix),
  { pagesChanged: async () => {} },
  createQueue(HEALTH_QUEUE, redis, prefix),
  { escalation: false, autoChecks: false, paging: false, alertmanagerApi: false },
);
// The bench's bot's config, as far as a declare reads it: its defaults.
const config = parseFileConfig('work-floor', 'slack:\n  defaultChannel: C0DEFAULT1\n');
app.command(/.*/, async ({ ack, command }) => {
  const declared = /^declare (P\d) (.*)$/.exec(command.text);
  // Anything else (the Slack path's warm-up) is only acked, as by the ack floor.
  if (!declared) return await ack();
  const [, severity, title] = declared;
  const result = await declareIncident(
    { pool, config, effects },
    {
      severity,
      title,
      declaredBy: command.user_id,
      channelId: command.channel_id,
      requestKey: `command:${command.trigger_id}`,
    },
  );
  await ack({ response_type: 'ephemeral', text: `Declared ${result.ref} (${severity}) in this channel.` });
});
app.action(/.*/, async ({ ack }) => ack());
app.view(/.*/, async ({ ack }) => ack());
await listen();
