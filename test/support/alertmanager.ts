import { createHash } from 'node:crypto';
import type { WebhookPayload } from '../../src/alerts/payload.js';

export interface AlertSpec {
  name?: string;
  instance: string;
  status?: 'firing' | 'resolved';
  severity?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  startsAt?: string;
}

export function fingerprintOf(labels: Record<string, string>): string {
  return createHash('sha256')
    .update(JSON.stringify(Object.entries(labels).sort()))
    .digest('hex')
    .slice(0, 16);
}

/** A version 4 webhook payload shaped the way Alertmanager sends it. */
export function payload(options: {
  group: string;
  alerts: AlertSpec[];
  status?: 'firing' | 'resolved';
  commonLabels?: Record<string, string>;
  commonAnnotations?: Record<string, string>;
  truncatedAlerts?: number;
  /** As the bot's webhook marks a notification Alertmanager truncated (see WebhookPayloadSchema). */
  alertmanagerTruncated?: true;
}): WebhookPayload {
  const alerts = options.alerts.map((spec) => {
    const labels = {
      alertname: spec.name ?? 'HighErrorRate',
      severity: spec.severity ?? 'critical',
      service: 'payments-api',
      instance: spec.instance,
      ...spec.labels,
    };
    const status = spec.status ?? 'firing';
    return {
      status,
      labels,
      annotations: { summary: `Error rate above 5% on ${spec.instance}`, ...spec.annotations },
      startsAt: spec.startsAt ?? '2026-11-23T08:00:00.123456789Z',
      endsAt: status === 'resolved' ? '2026-11-23T09:00:00Z' : '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus.example:9090/graph?g0.expr=rate%28errors%5B5m%5D%29+%3E+0.05&g0.tab=1',
      fingerprint: fingerprintOf(labels),
    };
  });
  const status = options.status ?? (alerts.some((a) => a.status === 'firing') ? 'firing' : 'resolved');
  return {
    version: '4',
    groupKey: `{}/{severity=~"critical|warning"}:{alertname="${options.group}"}`,
    truncatedAlerts: options.truncatedAlerts ?? 0,
    status,
    receiver: 'incident-bot',
    groupLabels: { alertname: options.group },
    commonLabels: {
      alertname: options.group,
      service: 'payments-api',
      severity: 'critical',
      ...options.commonLabels,
    },
    commonAnnotations: options.commonAnnotations ?? {},
    externalURL: 'http://alertmanager.example:9093',
    alerts,
    ...(options.alertmanagerTruncated ? { alertmanagerTruncated: true as const } : {}),
  };
}
