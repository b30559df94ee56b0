import type { AddressInfo } from 'node:net';
import { App } from '@slack/bolt';
import type { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { policyGroups } from './actions/catalog.js';
import { secretEnvOf } from './actions/drivers/index.js';
import { AlertmanagerApi } from './alertmanager/alertmanagerApi.js';
import { deliveriesWaiting } from './alerts/deliveries.js';
import { DeliveryAcceptor } from './alerts/deliveryAcceptor.js';
import { heartbeatLastSeen } from './alerts/heartbeat.js';
import { ShownDigests } from './alerts/shownDigests.js';
import { keptRequestList } from './commands/actionHandlers.js';
import { keptIncidentList, keptStats, keptTimelines } from './commands/incidentHandlers.js';
import { alertmanagerAuth } from './config/env.js';
import { type Config, ConfigError } from './config/index.js';
import { hearChanges } from './db/changes.js';
import { migrateDatabase } from './db/migrate.js';
import { clientsInTurn, createPool } from './db/pool.js';
import { SYNC_QUERY_TIMEOUT_MS } from './db/syncLock.js';
import { escalationGroups } from './escalation/configSchema.js';
import { unknownEscalationGroups } from './escalation/groups.js';
import { anyEscalation } from './escalation/policies.js';
import { checkCredentialEnv } from './health/checkSchema.js';
import { alertmanagerRoute } from './http/alertmanagerRoute.js';
import { createHttpServer, type HttpServer } from './http/server.js';
import { SlackEventsRoute } from './http/slackEvents.js';
import { countOpenIncidents } from './incidents/incidentStore.js';
import { HandlersInFlight } from './listeners/handlersInFlight.js';
import { ListenerRouter, registerListeners } from './listeners/index.js';
import { createSocketModeConnection, type SocketModeConnection } from './listeners/socketMode.js';
import { boltLogger, createLogger, type Logger } from './observability/logger.js';
import { Metrics, STORE_PROBE_MS } from './observability/metrics.js';
import { anyPager } from './paging/configSchema.js';
import { createPagers } from './paging/pagers.js';
import { anyAutoChecks, playbookView } from './playbooks/playbooks.js';
import { ownValue } from './primitives/records.js';
import { withTimeout } from './primitives/withTimeout.js';
import { ACTIONS_QUEUE, type ActionJob } from './queues/actionJobs.js';
import { ESCALATION_QUEUE, type EscalationJob } from './queues/escalationJobs.js';
import { HEALTH_QUEUE, type HealthJob } from './queues/healthJobs.js';
import { INCIDENT_TASKS_QUEUE, type IncidentTask, QueuedIncidentEffects } from './queues/incidentTasks.js';
import { PAGES_QUEUE, type PageJob, QueuedPageEffects } from './queues/pageJobs.js';
import {
  createProducerRedis,
  createQueue,
  createSlackSyncQueue,
  createWorkerRedis,
  type SlackSyncJob,
} from './queues/queues.js';
import { TemplateError, type TemplateSet } from './render/templates.js';
import { type RunningSandbox, startSandbox } from './sandbox/sandbox.js';
import { atLeastASecondFrom, closeServer, closeWorkers, finishedBy } from './shutdown.js';
import { SlackMembership } from './slack/membership.js';
import { SlackRateLimiter } from './slack/rateLimiter.js';
import { SlackApi } from './slack/slackApi.js';
import { UserNames } from './slack/userNames.js';
import { checkTemplates } from './views/templateCheck.js';
import { ACTIONS_CONCURRENCY, startActionsWorker } from './workers/actionsWorker.js';
import { DELIVERIES_CONCURRENCY, DeliveriesWorker } from './workers/deliveriesWorker.js';
import { startEscalationWorker } from './workers/escalationWorker.js';
import { startHealthWorker } from './workers/healthWorker.js';
import { startIncidentTasksWorker } from './workers/incidentTasksWorker.js';
import { startPagesWorker } from './workers/pagesWorker.js';
import { startSlackSyncWorker } from './workers/slackSyncWorker.js';

export interface StartOptions {
  /** Serve HTTP (Slack, Alertmanager, health, metrics) on config.env.PORT. */
  http: boolean;
  /** Run queue workers in this process. */
  worker: boolean;
  logger?: Logger;
}

export interface RunningApp {
  /** The port HTTP listens on (useful with PORT=0), or undefined without HTTP. */
  port?: number;
  pool: pg.Pool;
  slackSync: Queue<SlackSyncJob>;
  tasks: Queue<IncidentTask>;
  actions: Queue<ActionJob>;
  health: Queue<HealthJob>;
  escalation: Queue<EscalationJob>;
  pages: Queue<PageJob>;
  /** What the use cases' changes set off: queue jobs. */
  effects: QueuedIncidentEffects;
  metrics: Metrics;
  logger: Logger;
  /** Resolves once no Slack listener is running: clicks are acknowledged before their work is done. */
  slackHandlersIdle(): Promise<void>;
  /** Resolves once this process ingests no Alertmanager delivery and has passed on what it ingested. */
  deliveriesIdle(): Promise<void>;
  stop(): Promise<void>;
}

/** Slack syncs a worker runs at once: each holds a database client across its Slack calls. */
const SLACK_SYNC_CONCURRENCY = 8;
// Silences being set, extended or lifted at the same moment; more wait their turn for a client. Eight, not
// four: of 200 silence forms sent 50 at a time, 99% of the people were told the outcome within 0.92–1.0 s,
// against 1.2–1.28 s.
const SILENCES_POOL_SIZE = 8;
/** How long a silence change waits its turn: each holds its client only while Alertmanager answers. */
const SILENCES_CLIENT_WAIT_MS = 30_000;
/** Far longer than any ingest takes (milliseconds): only a connection gone silent goes unanswered this long. */
const INGEST_QUERY_TIMEOUT_MS = 30_000;
/** Far longer than accepting a batch of deliveries takes (milliseconds). */
const WEBHOOK_QUERY_TIMEOUT_MS = 5000;
/** PostgreSQL ends a webhook statement first, so that one answered 503 never lands after the answer. */
const WEBHOOK_STATEMENT_TIMEOUT_MS = 4000;
/**
 * The main pool and the syncs' keep their statements' plans at most this long (see createPool): commands,
 * buttons, workers and syncs read and change one incident or request at a time there, by its key, and
 * planning was about half of what a command cost PostgreSQL, the sync it queues included (a statement run
 * more than five times on a connection gains). The webhook's and the ingest's pools, which work through a
 * storm as it fills their tables, plan each execution. A plan made on a fresh install's tiny tables scans
 * them in a first storm (a sync's read took 159 ms on one made so) for at most this long.
 */
const PLANS_KEPT_FOR_SECONDS = 60;
/**
 * Far longer than any statement of the requests' and workers' pool takes (milliseconds; the migrations run
 * on a pool of their own): a connection gone silent leaves a command at "Working on it", and holds its
 * client, for no longer than this, and PostgreSQL ends a statement left waiting on a lock first, so that
 * one its caller was told failed does not land once the lock is gone.
 */
const QUERY_TIMEOUT_MS = 10_000;
const STATEMENT_TIMEOUT_MS = 8000;
/** The requests' and workers' pool (the bench's floor of a declare's work makes its pool so too). */
export const REQUESTS_POOL_SIZE = 10;
export const REQUESTS_POOL_OPTIONS = {
  queryTimeoutMs: QUERY_TIMEOUT_MS,
  statementTimeoutMs: STATEMENT_TIMEOUT_MS,
  plansKeptForSeconds: PLANS_KEPT_FOR_SECONDS,
};
/** How long a stop whose queue workers did not close, with no job running, asks Redis whether it answers. */
const REDIS_ANSWER_MS = 500;

/** Every secret the process holds, so the logger can scrub them from anything it writes. */
export function secretsOf(config: Config, source: NodeJS.ProcessEnv = process.env): string[] {
  const { env } = config;
  // The env vars the config names for checks and actions: a secret's value, and a connection string's
  // password, which an error may quote on its own. A check's connection string itself is shown (the
  // bot's DATABASE_URL may be one): it names the host to look at.
  const envValue = (name: string) => ownValue(source, name);
  const checks = Object.values(config.file.services).flatMap((service) =>
    service.checks.map(checkCredentialEnv),
  );
  const named = [
    ...checks.flatMap((c) => c.secrets),
    ...Object.values(config.file.services).flatMap((service) =>
      service.actions.flatMap((action) => secretEnvOf(action.driver)),
    ),
  ]
    .map(envValue)
    .flatMap((value) => (value ? [value, ...passwordsIn(value)] : []));
  const connections = checks
    .flatMap((c) => c.connections)
    .map(envValue)
    .flatMap((value) => (value ? passwordsIn(value) : []));
  return [
    env.SLACK_BOT_TOKEN,
    env.SLACK_SIGNING_SECRET,
    env.SLACK_APP_TOKEN,
    env.ALERTMANAGER_TOKEN,
    env.ALERTMANAGER_API_TOKEN,
    env.ALERTMANAGER_API_PASSWORD,
    ...passwordsIn(env.DATABASE_URL),
    ...passwordsIn(env.REDIS_URL),
    ...Object.values(config.pagerSecrets),
    ...new Set([...named, ...connections]),
  ].filter((s): s is string => typeof s === 'string' && s !== '');
}

/** The password of a connection string as it is sent: a URL's, decoded, or a key=value string's. */
function passwordsIn(connection: string): string[] {
  let url: URL;
  try {
    url = new URL(connection);
  } catch {
    const quoted = /(?:^|\s)password\s*=\s*(?:'((?:[^'\\]|\\.)*)'|(\S+))/.exec(connection);
    return quoted ? [quoted[1] ?? quoted[2]!] : [];
  }
  try {
    return [decodeURIComponent(url.password)];
  } catch {
    return [url.password]; // a bare % is not an escape: the password is as written
  }
}

/** Loads every template and renders the largest views through it, so a broken override fails now. */
export async function loadTemplates(config: Config): Promise<TemplateSet> {
  const { templates, problems } = await checkTemplates(
    config.env.TEMPLATES_DIR,
    config.file.alerts.maxAlertsShown,
  );
  if (problems.length > 0) throw new TemplateError(problems.join('\n'));
  return templates;
}

/** The composition root: config → pools → app → workers. `stop()` undoes it in reverse. */
export async function startApp(config: Config, options: StartOptions): Promise<RunningApp> {
  const { file } = config;
  let { env } = config;
  const logger = options.logger ?? createLogger(env.LOG_LEVEL, secretsOf(config));
  const templates = await loadTemplates(config);
  const metrics = new Metrics();
  const pool = createPool(env.DATABASE_URL, REQUESTS_POOL_SIZE, REQUESTS_POOL_OPTIONS);
  // The webhook's own: one client accepting deliveries (see DeliveryAcceptor), one recording the
  // heartbeat. Commands never keep it waiting, and a statement unanswered this long (a connection gone
  // silent, which TCP finds after hours) fails its batch with a 503 rather than hold up every delivery.
  const webhookPool = createPool(env.DATABASE_URL, 2, {
    queryTimeoutMs: WEBHOOK_QUERY_TIMEOUT_MS,
    statementTimeoutMs: WEBHOOK_STATEMENT_TIMEOUT_MS,
  });
  // The Slack syncs' own pool, one client per sync and one for the reconcile pass at start: however slow
  // Slack is, it holds these and never the clients requests and the other workers use.
  const slackSyncPool = createPool(env.DATABASE_URL, SLACK_SYNC_CONCURRENCY + 1, {
    queryTimeoutMs: SYNC_QUERY_TIMEOUT_MS,
    plansKeptForSeconds: PLANS_KEPT_FOR_SECONDS,
  });
  // Silences wait on Alertmanager holding a client (see SilenceDeps.silencesPool); a few at a time.
  const silencesPool = createPool(env.DATABASE_URL, SILENCES_POOL_SIZE);
  // Running actions hold their service's lock on a client for as long as they run: see ActionsWorkerDeps.
  const serviceLocksPool = createPool(env.DATABASE_URL, ACTIONS_CONCURRENCY);
  // Ingesting stored deliveries never takes the clients the webhook stores them with. A query unanswered
  // this long is a connection gone silent: its session is ended, and the delivery waits for another.
  const deliveriesPool = createPool(env.DATABASE_URL, DELIVERIES_CONCURRENCY + 1, {
    queryTimeoutMs: INGEST_QUERY_TIMEOUT_MS,
  });
  const redisClients: Redis[] = [];
  // Each is given the shutdown deadline (a Date.now() value).
  const closers: Array<(deadline: number) => Promise<unknown>> = [];
  // Aborted at the shutdown deadline: action drivers still running are stopped and recorded as interrupted.
  const stopRuns = new AbortController();
  let sandbox: RunningSandbox | undefined;
  try {
    if (env.sandbox) {
      sandbox = await startSandbox(config, pool, logger);
      closers.push(sandbox.close);
      env = { ...env, SLACK_API_URL: sandbox.apiUrl };
    }
    const applied = await migrateDatabase(env.DATABASE_URL);
    if (applied.length > 0) logger.info({ applied }, 'applied migrations');

    const producerRedis = createProducerRedis(env.REDIS_URL);
    producerRedis.on('error', (err) => logger.debug({ err: err.message }, 'redis connection error'));
    redisClients.push(producerRedis);
    const queue = createSlackSyncQueue(producerRedis, env.QUEUE_PREFIX);
    const tasks = createQueue<IncidentTask>(INCIDENT_TASKS_QUEUE, producerRedis, env.QUEUE_PREFIX);
    const actions = createQueue<ActionJob>(ACTIONS_QUEUE, producerRedis, env.QUEUE_PREFIX);
    const health = createQueue<HealthJob>(HEALTH_QUEUE, producerRedis, env.QUEUE_PREFIX);
    const escalation = createQueue<EscalationJob>(ESCALATION_QUEUE, producerRedis, env.QUEUE_PREFIX);
    const pages = createQueue<PageJob>(PAGES_QUEUE, producerRedis, env.QUEUE_PREFIX);
    for (const q of [queue, tasks, actions, health, escalation, pages]) {
      q.on('error', (err) => logger.debug({ err: err.message }, 'queue connection error'));
      closers.push(() => q.close());
    }
    const { heartbeat } = file;
    metrics.readFrom({
      openIncidents: () => countOpenIncidents(pool),
      deliveriesWaiting: () => deliveriesWaiting(pool),
      queues: [queue, tasks, actions, health, escalation, pages],
      queuesReady: () => producerRedis.status === 'ready',
      ...(heartbeat
        ? {
            heartbeat: {
              alertname: heartbeat.alertname,
              lastSeen: () => heartbeatLastSeen(pool, heartbeat.alertname),
            },
          }
        : {}),
    });
    const pageEffects = new QueuedPageEffects(pages);
    const effects = new QueuedIncidentEffects(queue, tasks, escalation, pageEffects, health, {
      escalation: anyEscalation(file),
      autoChecks: anyAutoChecks(file),
      paging: anyPager(file),
      alertmanagerApi: file.alertmanager !== undefined,
    });
    // Where silences are written; without `alertmanager:` the silence commands say what to configure.
    // Its list of URLs is the config's own: the sandbox points it at its port once it has one.
    const alertmanager = file.alertmanager
      ? new AlertmanagerApi(
          file.alertmanager.urls,
          alertmanagerAuth(env),
          file.alertmanager.timeout,
          file.alertmanager.alertsResentWithin,
        )
      : undefined;
    const slack = new SlackApi(env.SLACK_BOT_TOKEN, env.SLACK_API_URL, metrics);
    const membership = new SlackMembership(
      slack,
      [...new Set([...policyGroups(file), ...escalationGroups(file)])],
      file.actions.membershipRefresh,
      logger.child({ component: 'membership' }),
    );
    membership.start();
    closers.push(async () => membership.stop());
    const unknownGroups = await unknownEscalationGroups(slack, file);
    if (unknownGroups === undefined)
      logger.warn(
        'Slack did not answer usergroups.list: the user groups escalation mentions were not checked',
      );
    else if (unknownGroups.length > 0) throw new ConfigError('the escalation policies', unknownGroups);
    // An escalation step mentions a group by its id: know them before the first step runs.
    if (escalationGroups(file).length > 0) await membership.refresh();
    const limiter = new SlackRateLimiter(producerRedis, env.QUEUE_PREFIX);

    if (options.worker) {
      const workerRedis = createWorkerRedis(env.REDIS_URL);
      workerRedis.on('error', (err) => logger.debug({ err: err.message }, 'redis connection error'));
      redisClients.push(workerRedis);
      const workers: Worker[] = [
        await startSlackSyncWorker({
          pool: slackSyncPool,
          concurrency: SLACK_SYNC_CONCURRENCY,
          queue,
          connection: workerRedis,
          prefix: env.QUEUE_PREFIX,
          slack,
          limiter,
          templates,
          config: file,
          playbookOf: (incident) => playbookView(file, incident),
          metrics,
          logger: logger.child({ component: 'slack-sync' }),
        }),
        await startIncidentTasksWorker({
          pool,
          config: file,
          alertmanager,
          slack,
          limiter,
          templates,
          effects,
          queue: tasks,
          connection: workerRedis,
          prefix: env.QUEUE_PREFIX,
          metrics,
          logger: logger.child({ component: 'incident-tasks' }),
        }),
        await startActionsWorker({
          pool,
          serviceLocks: serviceLocksPool,
          config: file,
          membership,
          slackSync: queue,
          actions,
          effects,
          connection: workerRedis,
          prefix: env.QUEUE_PREFIX,
          metrics,
          logger: logger.child({ component: 'actions' }),
          lockDurationMs: file.actions.workerLockDuration,
          stopping: stopRuns.signal,
          secrets: secretsOf(config),
        }),
        await startEscalationWorker({
          pool,
          config: file,
          groupId: (group) => membership.groupId(group),
          queue: escalation,
          effects,
          pages: pageEffects,
          connection: workerRedis,
          prefix: env.QUEUE_PREFIX,
          metrics,
          logger: logger.child({ component: 'escalation' }),
        }),
        await startHealthWorker({
          pool,
          config: file,
          queue: health,
          slack,
          limiter,
          templates,
          connection: workerRedis,
          prefix: env.QUEUE_PREFIX,
          metrics,
          logger: logger.child({ component: 'health' }),
        }),
        await startPagesWorker({
          pool,
          pagers: createPagers(file.pagers, config.pagerSecrets, env.PAGERDUTY_EVENTS_URL),
          pageEffects,
          incidentChanged: (incidentId, version) => effects.changed(incidentId, version),
          connection: workerRedis,
          prefix: env.QUEUE_PREFIX,
          metrics,
          logger: logger.child({ component: 'pages' }),
        }),
      ];
      // Closing waits for running jobs, so it goes before the pools they use.
      closers.unshift((deadline) =>
        closeWorkers(workers, deadline, logger, {
          stopRuns: () => stopRuns.abort(),
          jobsRunning: () => metrics.jobsRunningNow(),
          redisAnswers: () =>
            withTimeout(producerRedis.ping(), REDIS_ANSWER_MS).then(
              () => true,
              () => false,
            ),
        }),
      );
    }

    // The probe's answer names the store, not its error: that would show hosts, users and database
    // names on the public port. The log has it. A store gone silent is not answering either.
    const ready = async () => {
      const stores: Record<string, () => Promise<unknown>> = {
        PostgreSQL: () => pool.query('SELECT 1'),
        Redis: () => producerRedis.ping(),
      };
      for (const [store, answers] of Object.entries(stores)) {
        try {
          await withTimeout(answers(), STORE_PROBE_MS);
        } catch (err) {
          logger.warn({ err }, `readiness: ${store} is not answering`);
          throw new Error(`${store} is not answering`);
        }
      }
    };
    const scrape = async () => ({
      contentType: metrics.registry.contentType,
      body: await metrics.registry.metrics(),
    });
    let server: HttpServer | undefined;
    const handlers = new HandlersInFlight();
    let socket: SocketModeConnection | undefined;
    let socketStarted = false;
    let deliveries: DeliveriesWorker | undefined;
    if (options.http) {
      const slackLogger = logger.child({ component: 'slack' });
      // Socket Mode when SLACK_APP_TOKEN is set (no public URL needed); Slack's signed HTTP requests otherwise.
      socket = env.SLACK_APP_TOKEN
        ? createSocketModeConnection(env.SLACK_APP_TOKEN, env.SLACK_API_URL, boltLogger(logger), slackLogger)
        : undefined;
      // parseEnv requires the signing secret whenever SLACK_APP_TOKEN is unset.
      const slackEvents = socket ? undefined : new SlackEventsRoute(env.SLACK_SIGNING_SECRET!, slackLogger);
      const bolt = new App({
        // Not `token`: Bolt would ask auth.test for the bot's ids (used only to ignore its own events,
        // and the bot listens to none) before every request until Slack answered, and keep a failure:
        // a Slack outage at start would leave every command answered with nothing until a restart.
        authorize: async () => ({ botToken: env.SLACK_BOT_TOKEN }),
        receiver: socket?.bolt ?? slackEvents!,
        logger: boltLogger(logger),
        clientOptions: { slackApiUrl: env.SLACK_API_URL },
        // The bot keeps no conversation state: the store's look-up only made an Error per request.
        convoStore: false,
      });
      handlers.register(bolt);
      // Once the server is closed, and before the workers and pools: see HandlersInFlight. A Socket
      // Mode socket carries the handlers' acknowledgements, so it closes only after them.
      closers.unshift(async (deadline) => {
        if (!(await finishedBy(handlers.idle(), deadline)))
          logger.warn('stopping with Slack handlers still running past SHUTDOWN_TIMEOUT');
        if (socketStarted) await socket!.stop();
      });
      // Every serving process ingests what the webhook stores: see src/alerts/deliveries.ts.
      deliveries = new DeliveriesWorker({
        pool: deliveriesPool,
        config: file,
        queue,
        queueAnswers: () =>
          producerRedis.ping().then(
            () => true,
            () => false,
          ),
        effects,
        metrics,
        logger: logger.child({ component: 'alertmanager' }),
      });
      deliveries.start();
      const ingest = deliveries;
      // After the server (no more deliveries woken), before the pools.
      closers.unshift(async (deadline) => {
        if (!(await finishedBy(ingest.stop(), deadline)))
          logger.warn('stopping with alert deliveries still being ingested past SHUTDOWN_TIMEOUT');
      });
      // A refused form names people in plain text from what is known, never waiting on Slack: each
      // sender's name is learned after their request (at most once an hour).
      const people = new UserNames(slack, slackLogger);
      const router = new ListenerRouter((sender) => people.warm([sender]));
      const incidentList = keptIncidentList();
      const requestList = keptRequestList();
      const timelines = keptTimelines();
      const stats = keptStats();
      registerListeners(router, {
        pool,
        incidentList,
        requestList,
        timelines,
        stats,
        silencesPool: clientsInTurn(silencesPool, SILENCES_CLIENT_WAIT_MS),
        config: file,
        effects,
        alertmanager,
        templates,
        actions,
        slackSync: queue,
        health,
        membership,
        slack,
        people,
        metrics,
        logger: slackLogger,
      });
      router.register(bolt);
      // Repeats of what incidents show, the open incidents and requests listed, incidents' timelines and
      // the stats are answered from memory, forgotten as PostgreSQL tells of changes.
      const shown = new ShownDigests();
      const changes = hearChanges({
        connectionString: env.DATABASE_URL,
        hearers: [shown, incidentList, requestList, timelines, stats],
        logger: logger.child({ component: 'db' }),
      });
      closers.push((deadline) => finishedBy(changes.stop(), atLeastASecondFrom(deadline)));
      server = createHttpServer(
        {
          ...(slackEvents ? { slackEvents: slackEvents.handle } : {}),
          alertmanager: alertmanagerRoute({
            pool: webhookPool,
            acceptor: new DeliveryAcceptor(webhookPool, { shown }),
            queue,
            stored: () => ingest.stored(),
            config: file,
            token: env.ALERTMANAGER_TOKEN,
            metrics,
            logger: logger.child({ component: 'alertmanager' }),
          }),
          ready,
          metrics: scrape,
          ...(sandbox ? { extra: sandbox.routes } : {}),
        },
        logger,
      );
    } else if (options.worker) {
      // A worker's own port: health and metrics only.
      server = createHttpServer({ ready, metrics: scrape }, logger);
    }
    if (server) {
      const listening = server;
      await new Promise<void>((resolve, reject) => {
        listening.once('error', reject);
        // The sandbox lets whoever reaches it act as any of its users: this machine only.
        listening.listen({ port: env.PORT, ...(sandbox ? { host: '127.0.0.1' } : {}) }, () => resolve());
      });
      closers.unshift((deadline) => closeServer(listening, deadline, logger));
    }
    if (socket) {
      // Socket Mode: connect once the listeners are in place and HTTP answers /healthz.
      await socket.start();
      socketStarted = true;
    }

    const port = server ? (server.address() as AddressInfo).port : undefined;
    if (sandbox && port !== undefined) sandbox.connect(port);
    logger.info({ port, worker: options.worker }, 'incident-bot started');
    let stopping: Promise<void> | undefined;
    return {
      port,
      pool,
      slackSync: queue,
      tasks,
      actions,
      health,
      escalation,
      pages,
      effects,
      metrics,
      logger,
      slackHandlersIdle: () => handlers.idle(),
      deliveriesIdle: () => deliveries?.idle() ?? Promise.resolve(),
      stop: () => {
        stopping ??= (async () => {
          const deadline = Date.now() + env.SHUTDOWN_TIMEOUT;
          for (const close of closers)
            await close(deadline).catch((err) => logger.warn({ err }, 'error while stopping'));
          // quit() waits behind commands queued while Redis is away; past the deadline, just drop them: all
          // within the same second past it, not a second each in turn.
          const quitBy = atLeastASecondFrom(deadline);
          await Promise.all(
            redisClients.map(async (redis) => {
              const quit = redis.quit().catch(() => undefined);
              if (!(await finishedBy(quit, quitBy))) redis.disconnect();
            }),
          );
          // A job left running past the deadline still holds a client: the pools do not wait for it.
          await finishedBy(
            Promise.all([
              pool.end(),
              webhookPool.end(),
              slackSyncPool.end(),
              silencesPool.end(),
              serviceLocksPool.end(),
              deliveriesPool.end(),
            ]),
            atLeastASecondFrom(deadline),
          );
          logger.info('incident-bot stopped');
        })();
        return stopping;
      },
    };
  } catch (err) {
    for (const close of closers) await close(Date.now()).catch(() => {});
    for (const redis of redisClients) redis.disconnect();
    await pool.end().catch(() => {});
    await webhookPool.end().catch(() => {});
    await slackSyncPool.end().catch(() => {});
    await silencesPool.end().catch(() => {});
    await serviceLocksPool.end().catch(() => {});
    await deliveriesPool.end().catch(() => {});
    throw err;
  }
}
