import { z } from 'zod';
import { dataRecord } from '../primitives/records.js';

// Postgres text cannot hold NUL, and jsonb refuses a lone UTF-16 surrogate (which JSON.parse makes of "\ud800"):
// refusing them here turns a would-be retry loop into a clear 400.
const Text = z
  .string()
  .refine((value) => !value.includes('\u0000'), 'must not contain NUL characters')
  .refine((value) => value.isWellFormed(), 'must not contain lone UTF-16 surrogates');
const Labels = dataRecord(Text, Text);
// Go's zero time: Alertmanager sends it for "not ended yet".
const GO_ZERO_TIME = /^0001-01-01T00:00:00/;
const Timestamp = z.iso.datetime({ offset: true, message: 'expected an RFC 3339 timestamp' });

export const AlertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: Labels,
  annotations: Labels.prefault({}),
  startsAt: Timestamp,
  endsAt: Timestamp.optional().transform((value) => (value && !GO_ZERO_TIME.test(value) ? value : undefined)),
  generatorURL: Text.default(''),
  fingerprint: Text.min(1).max(64),
});

/** Alertmanager's webhook payload, version 4. */
/** What incidents.truncated_alerts holds at most. */
export const MAX_TRUNCATED_ALERTS = 2 ** 31 - 1;

export const WebhookPayloadSchema = z.object({
  version: z.literal('4', { error: 'expected "4" (Alertmanager webhook payload version 4)' }),
  groupKey: Text.min(1).max(10_000),
  // Alertmanager counts in 64 bits; more than the column holds is more than any group, so it is capped.
  truncatedAlerts: z
    .number()
    .int()
    .min(0)
    .default(0)
    .transform((n) => Math.min(n, MAX_TRUNCATED_ALERTS)),
  status: z.enum(['firing', 'resolved']),
  receiver: Text,
  groupLabels: Labels.prefault({}),
  commonLabels: Labels.prefault({}),
  commonAnnotations: Labels.prefault({}),
  externalURL: Text.default(''),
  alerts: z.array(AlertSchema).min(1, 'expected at least one alert'),
});

export type WebhookPayload = z.infer<typeof WebhookPayloadSchema>;
export type Alert = z.infer<typeof AlertSchema>;
