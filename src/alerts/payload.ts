import { z } from 'zod';

const Labels = z.record(z.string(), z.string());
// Go's zero time: Alertmanager sends it for "not ended yet".
const GO_ZERO_TIME = /^0001-01-01T00:00:00/;
const Timestamp = z.iso.datetime({ offset: true, message: 'expected an RFC 3339 timestamp' });

export const AlertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: Labels,
  annotations: Labels.default({}),
  startsAt: Timestamp,
  endsAt: Timestamp.optional().transform((value) => (value && !GO_ZERO_TIME.test(value) ? value : undefined)),
  generatorURL: z.string().default(''),
  fingerprint: z.string().min(1).max(64),
});

/** Alertmanager's webhook payload, version 4. */
export const WebhookPayloadSchema = z.object({
  version: z.literal('4', { error: 'expected "4" (Alertmanager webhook payload version 4)' }),
  groupKey: z.string().min(1).max(10_000),
  truncatedAlerts: z.number().int().min(0).default(0),
  status: z.enum(['firing', 'resolved']),
  receiver: z.string(),
  groupLabels: Labels.default({}),
  commonLabels: Labels.default({}),
  commonAnnotations: Labels.default({}),
  externalURL: z.string().default(''),
  alerts: z.array(AlertSchema).min(1, 'expected at least one alert'),
});

export type WebhookPayload = z.infer<typeof WebhookPayloadSchema>;
export type Alert = z.infer<typeof AlertSchema>;
