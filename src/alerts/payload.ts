import { z } from 'zod';
import { dataRecord } from '../primitives/records.js';

// Postgres text cannot hold NUL, and jsonb refuses a lone UTF-16 surrogate (which JSON.parse makes of "\ud800"):
// refusing them here turns a would-be retry loop into a clear 400.
const Text = z
  .string()
  .refine((value) => !value.includes('\u0000'), 'must not contain NUL characters')
  .refine((value) => value.isWellFormed(), 'must not contain lone UTF-16 surrogates');
const Labels = dataRecord(Text, Text);

/** An annotation is kept up to this many characters: far more than Slack shows, far less than a storm sends. */
export const MAX_ANNOTATION_LENGTH = 64 * 1024;
/**
 * Annotations are prose for people, unlike labels (an alert's identity, kept whole): one of many MiB
 * (a runbook pasted into a description) is cut, so that it is not stored and read again at every sync.
 */
const Annotations = dataRecord(
  Text,
  Text.transform((value) => {
    if (value.length <= MAX_ANNOTATION_LENGTH) return value;
    const cut = value.slice(0, MAX_ANNOTATION_LENGTH - 1);
    // Not half of a surrogate pair: the rest of the text must stay storable.
    return `${/[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut}…`;
  }),
);
// Go's zero time: Alertmanager sends it for "not ended yet".
const GO_ZERO_TIME = /^0001-01-01T00:00:00/;
// RFC 3339 allows the year 0000, which PostgreSQL has not (1 BC comes before 1 AD).
const Timestamp = z.iso
  .datetime({ offset: true, message: 'expected an RFC 3339 timestamp' })
  .refine((value) => !value.startsWith('0000-'), 'expected a year from 0001');

export const AlertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: Labels,
  annotations: Annotations.prefault({}),
  startsAt: Timestamp,
  endsAt: Timestamp.optional().transform((value) => (value && !GO_ZERO_TIME.test(value) ? value : undefined)),
  generatorURL: Text.default(''),
  fingerprint: Text.min(1).max(64),
});

/** What incidents.truncated_alerts holds at most. */
export const MAX_TRUNCATED_ALERTS = 2 ** 31 - 1;

/** Alertmanager's webhook payload, version 4. */
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
  commonAnnotations: Annotations.prefault({}),
  externalURL: Text.default(''),
  alerts: z.array(AlertSchema).min(1, 'expected at least one alert'),
});

export type WebhookPayload = z.infer<typeof WebhookPayloadSchema>;
export type Alert = z.infer<typeof AlertSchema>;
