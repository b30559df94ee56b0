import type { Queue } from 'bullmq';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { SEVERITIES } from '../primitives/severity.js';
import { withTimeout } from '../primitives/withTimeout.js';

/**
 * How long /readyz and each of a scrape's gauges wait for PostgreSQL or Redis. A store gone silent (the
 * connection open, nothing coming back) is found by TCP only hours later: a scrape waiting on it would pass
 * Prometheus's scrape_timeout (10 s by default) and lose every series, the webhook's 503s included.
 */
export const STORE_PROBE_MS = 2000;

/** `answer`'s value, or undefined once it fails or STORE_PROBE_MS pass without it. */
const probed = <T>(answer: Promise<T>): Promise<T | undefined> =>
  withTimeout(answer, STORE_PROBE_MS).catch(() => undefined);

/** What the gauges read when Prometheus scrapes: Postgres for incidents, Redis for queues. */
export interface ScrapeSources {
  /** Open incidents by severity. */
  openIncidents(): Promise<Record<string, number>>;
  queues: Queue[];
  /** False while Redis is unreachable: then the queues are not asked (they would wait for it). */
  queuesReady(): boolean;
  /** Alertmanager deliveries stored and not yet ingested, and how long the oldest has waited. */
  deliveriesWaiting(): Promise<{ count: number; oldestSeconds: number }>;
  /** The heartbeat alert and when it last arrived; absent without a heartbeat in the config. */
  heartbeat?: { alertname: string; lastSeen(): Promise<Date | undefined> };
}

const QUEUE_STATES = ['waiting', 'active', 'delayed', 'failed'] as const;

/**
 * The bot's Prometheus metrics; one registry per running app, so tests can run several side by side.
 * Counters end in _total, times are in seconds, and every label has a small, fixed set of values.
 */
export class Metrics {
  readonly registry = new Registry();
  private sources?: ScrapeSources;

  readonly webhookDeliveries = new Counter({
    name: 'incident_bot_alertmanager_deliveries_total',
    help: 'Alertmanager webhook deliveries, by outcome: those answered 200 by what ingesting them came to (created, reopened (an incident of the group resolved within alerts.reopenWithin), updated, ignored, the deduplicated ones (duplicate: a repeat of what is recorded; stale: a late copy from a lagging peer), heartbeat (only the heartbeat alert), refused (stored, but PostgreSQL would not take it: its alerts were dropped, and logged as an error)), or http_<status> for a delivery the webhook refused.',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookDuration = new Histogram({
    name: 'incident_bot_alertmanager_request_duration_seconds',
    help: 'Time to answer an Alertmanager webhook delivery.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly largeBodiesWaiting = new Gauge({
    name: 'incident_bot_alertmanager_large_bodies_waiting',
    help: 'Alertmanager deliveries over 1 MiB waiting for their turn to be read: 64 MiB of them are read at once (two of the largest), to bound memory.',
    registers: [this.registry],
  });

  readonly truncatedResolutions = new Counter({
    name: 'incident_bot_alertmanager_truncated_resolutions_total',
    help: "Resolved notifications Alertmanager truncated (max_alerts on the bot's receiver): the alerts they left out were not resolved, and their incident stays open until resolved by hand or by a notification that lists them.",
    registers: [this.registry],
  });

  readonly slackCalls = new Counter({
    name: 'incident_bot_slack_api_calls_total',
    help: 'Slack Web API calls, by method and outcome (ok, rate_limited for a 429, rejected, unavailable).',
    labelNames: ['method', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly slackChannelRefusals = new Counter({
    name: 'incident_bot_slack_channel_refusals_total',
    help: "Incidents and approval requests shown in the default (or announcement) channel or an incident's thread because Slack would not let the bot post in theirs, or make it, by Slack's error (not_in_channel, channel_not_found, is_archived, restricted_action…; for a channel it would not create, restricted_action and the like).",
    labelNames: ['error'] as const,
    registers: [this.registry],
  });

  readonly jobsRunning = new Gauge({
    name: 'incident_bot_jobs_running',
    help: 'Queue jobs this process is running now, by queue.',
    labelNames: ['queue'] as const,
    registers: [this.registry],
  });

  readonly jobDuration = new Histogram({
    name: 'incident_bot_job_duration_seconds',
    help: 'Time to process a queue job, by queue and outcome (ok, delayed, error).',
    labelNames: ['queue', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [this.registry],
  });

  readonly slackSyncLag = new Histogram({
    name: 'incident_bot_slack_sync_lag_seconds',
    help: 'Time from an incident change being recorded in Postgres to Slack showing it.',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    registers: [this.registry],
  });

  readonly approvalVotes = new Counter({
    name: 'incident_bot_approval_votes_total',
    help: 'Votes recorded on action requests, by decision (approve, reject).',
    labelNames: ['decision'] as const,
    registers: [this.registry],
  });

  readonly actionRuns = new Counter({
    name: 'incident_bot_action_runs_total',
    help: 'Approved actions carried out, by outcome: succeeded, failed, refused (checked again before running and no longer allowed), interrupted (its worker stopped mid-run).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly timeToAcknowledge = new Histogram({
    name: 'incident_bot_time_to_acknowledge_seconds',
    help: 'Time from an alert opening (or reopening) an incident to someone acknowledging it, by severity. Declared incidents have their owner from the start and are not counted.',
    labelNames: ['severity'] as const,
    buckets: [30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400],
    registers: [this.registry],
  });

  readonly timeToResolve = new Histogram({
    name: 'incident_bot_time_to_resolve_seconds',
    help: 'Time from an incident opening (or reopening) to its resolution, by severity at resolution: by its alerts or by someone. Each opening counts once, when it resolves.',
    labelNames: ['severity'] as const,
    buckets: [300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 259200, 604800],
    registers: [this.registry],
  });

  readonly incidentsReopened = new Counter({
    name: 'incident_bot_incidents_reopened_total',
    help: "Incidents reopened: their group fired again within alerts.reopenWithin of their resolution, by severity. Counted when the reopen is stored, so unlike the deliveries counter's outcome=reopened it misses none whose delivery was then answered 503.",
    labelNames: ['severity'] as const,
    registers: [this.registry],
  });

  readonly silences = new Counter({
    name: 'incident_bot_silences_total',
    help: "Changes to incidents' silences in Alertmanager, by change: set, extended (also one found longer in Alertmanager than recorded), lifted (unsilenced by someone).",
    labelNames: ['change'] as const,
    registers: [this.registry],
  });

  readonly escalationSteps = new Counter({
    name: 'incident_bot_escalation_steps_total',
    help: 'Escalation steps fired (config escalation), by policy and step number (1 is the first).',
    labelNames: ['policy', 'step'] as const,
    registers: [this.registry],
  });

  readonly pages = new Counter({
    name: 'incident_bot_pages_total',
    help: 'Page events sent to pagers (config pagers), by pager, action (trigger, acknowledge, resolve) and outcome: sent, failed (not delivered: retried), refused (a 4xx: not retried until the incident changes).',
    labelNames: ['pager', 'action', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly openIncidents = new Gauge({
    name: 'incident_bot_open_incidents',
    help: 'Open incidents by severity, read from Postgres at each scrape.',
    labelNames: ['severity'] as const,
    registers: [this.registry],
    collect: () => this.collectOpenIncidents(),
  });

  readonly queueJobs = new Gauge({
    name: 'incident_bot_queue_jobs',
    help: 'Jobs in each queue by state (waiting, active, delayed, failed), read from Redis at each scrape.',
    labelNames: ['queue', 'state'] as const,
    registers: [this.registry],
    collect: () => this.collectQueueJobs(),
  });

  readonly deliveriesWaiting = new Gauge({
    name: 'incident_bot_alertmanager_deliveries_waiting',
    help: 'Alertmanager deliveries accepted (answered 200) and not yet ingested, read from Postgres at each scrape.',
    registers: [this.registry],
    collect: async () => {
      this.deliveriesWaiting.reset();
      const waiting = await this.readDeliveriesWaiting();
      if (waiting) this.deliveriesWaiting.set(waiting.count);
    },
  });

  readonly oldestDeliveryWaiting = new Gauge({
    name: 'incident_bot_alertmanager_oldest_delivery_waiting_seconds',
    help: 'How long the oldest Alertmanager delivery not yet ingested has waited (0 when none waits), read from Postgres at each scrape.',
    registers: [this.registry],
    collect: async () => {
      this.oldestDeliveryWaiting.reset();
      const waiting = await this.readDeliveriesWaiting();
      if (waiting) this.oldestDeliveryWaiting.set(waiting.oldestSeconds);
    },
  });

  readonly heartbeatLastSeen = new Gauge({
    name: 'incident_bot_heartbeat_last_seen_timestamp_seconds',
    help: 'When the heartbeat alert (config heartbeat) last reached the bot, or the bot began to expect it, in Unix seconds, read from Postgres at each scrape.',
    labelNames: ['alertname'] as const,
    registers: [this.registry],
    collect: () => this.collectHeartbeat(),
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'incident_bot_' });
  }

  /** Queue jobs this process is running now, every queue's together. */
  async jobsRunningNow(): Promise<number> {
    const { values } = await this.jobsRunning.get();
    return values.reduce((sum, { value }) => sum + value, 0);
  }

  /** Where the gauges read from; until this is called they have no series. */
  readFrom(sources: ScrapeSources): void {
    this.sources = sources;
  }

  // A store that does not answer, or not within STORE_PROBE_MS, leaves its gauge without series for this
  // scrape, rather than failing the whole scrape or showing old numbers as current.
  private async collectOpenIncidents(): Promise<void> {
    this.openIncidents.reset();
    if (!this.sources) return;
    const counts = await probed(this.sources.openIncidents());
    if (!counts) return;
    for (const severity of SEVERITIES) this.openIncidents.set({ severity }, counts[severity] ?? 0);
  }

  /** Both delivery gauges of one scrape read the same answer. */
  private waitingRead?: { at: number; answer: Promise<{ count: number; oldestSeconds: number } | undefined> };
  private readDeliveriesWaiting() {
    if (!this.sources) return Promise.resolve(undefined);
    if (!this.waitingRead || performance.now() - this.waitingRead.at > 1000)
      this.waitingRead = {
        at: performance.now(),
        answer: probed(this.sources.deliveriesWaiting()),
      };
    return this.waitingRead.answer;
  }

  private async collectHeartbeat(): Promise<void> {
    this.heartbeatLastSeen.reset();
    const heartbeat = this.sources?.heartbeat;
    const lastSeen = heartbeat && (await probed(heartbeat.lastSeen()));
    if (heartbeat && lastSeen)
      this.heartbeatLastSeen.set({ alertname: heartbeat.alertname }, lastSeen.getTime() / 1000);
  }

  private async collectQueueJobs(): Promise<void> {
    this.queueJobs.reset();
    if (!this.sources?.queuesReady()) return;
    await Promise.all(
      this.sources.queues.map(async (queue) => {
        const counts = await probed(queue.getJobCounts(...QUEUE_STATES));
        if (!counts) return;
        for (const state of QUEUE_STATES)
          this.queueJobs.set({ queue: queue.name, state }, counts[state] ?? 0);
      }),
    );
  }
}
