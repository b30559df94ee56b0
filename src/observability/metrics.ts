import { Counter, collectDefaultMetrics, Histogram, Registry } from 'prom-client';

/** The bot's Prometheus metrics; one registry per running app, so tests can run several side by side. */
export class Metrics {
  readonly registry = new Registry();

  readonly webhookDeliveries = new Counter({
    name: 'incident_bot_alertmanager_deliveries_total',
    help: 'Alertmanager webhook deliveries, by outcome (created, updated, duplicate, stale, ignored, or the HTTP error).',
    labelNames: ['outcome'] as const,
    registers: [this.registry],
  });

  readonly webhookDuration = new Histogram({
    name: 'incident_bot_alertmanager_request_duration_seconds',
    help: 'Time to answer an Alertmanager webhook delivery.',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
    registers: [this.registry],
  });

  readonly slackCalls = new Counter({
    name: 'incident_bot_slack_api_calls_total',
    help: 'Slack Web API calls, by method and outcome (ok, rate_limited, rejected, unavailable).',
    labelNames: ['method', 'outcome'] as const,
    registers: [this.registry],
  });

  readonly jobDuration = new Histogram({
    name: 'incident_bot_job_duration_seconds',
    help: 'Time to process a queue job, by queue and outcome.',
    labelNames: ['queue', 'outcome'] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [this.registry],
  });

  readonly slackSyncLag = new Histogram({
    name: 'incident_bot_slack_sync_lag_seconds',
    help: 'Time from an incident change being recorded to Slack showing it.',
    buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900],
    registers: [this.registry],
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'incident_bot_' });
  }
}
