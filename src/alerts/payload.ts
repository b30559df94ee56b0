import { createHash } from 'node:crypto';
import { z } from 'zod';
import { dataRecord, isObject } from '../primitives/records.js';

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
const Annotations = dataRecord(Text, Text.transform(cutAnnotation));

function cutAnnotation(value: string): string {
  return value.length <= MAX_ANNOTATION_LENGTH ? value : `${startOf(value, MAX_ANNOTATION_LENGTH - 1)}…`;
}

/** The first `length` UTF-16 units of `value`, but for half of a surrogate pair: it stays storable. */
function startOf(value: string, length: number): string {
  const cut = value.slice(0, length);
  return /[\uD800-\uDBFF]$/.test(cut) ? cut.slice(0, -1) : cut;
}

/**
 * A group key is stored whole up to this many bytes: PostgreSQL indexes it, and an index entry holds at
 * most 2,704 bytes. One longer (labels of UUIDs or image digests, which do not compress) is stored as its
 * start, to be read, and a digest of the whole, the same for every notification of its group.
 */
const MAX_GROUP_KEY_BYTES = 2000;
const GROUP_KEY_START = 200;

function storableGroupKey(key: string): string {
  if (Buffer.byteLength(key) <= MAX_GROUP_KEY_BYTES) return key;
  return `${startOf(key, GROUP_KEY_START)}… sha256:${createHash('sha256').update(key).digest('hex')}`;
}

// Go's zero time: Alertmanager sends it for "not ended yet".
const GO_ZERO_TIME = /^0001-01-01T00:00:00/;
const RFC3339 = z.iso.datetime({ offset: true, message: 'expected an RFC 3339 timestamp' });
// RFC 3339 allows the year 0000, which PostgreSQL has not (1 BC comes before 1 AD), and offsets up to
// ±23:59, where PostgreSQL's stop at ±15:59: refused here, not dropped by the ingest after a 200.
const hasYearOne = (value: string) => !value.startsWith('0000-');
const hasPostgresOffset = (value: string) => !/[+-](1[6-9]|2\d):?\d{2}$/.test(value);
const Timestamp = RFC3339.refine(hasYearOne, 'expected a year from 0001').refine(
  hasPostgresOffset,
  'expected a time zone offset within ±15:59',
);
const endOf = (endsAt: string | undefined) => (endsAt && !GO_ZERO_TIME.test(endsAt) ? endsAt : undefined);

export const AlertSchema = z.object({
  status: z.enum(['firing', 'resolved']),
  labels: Labels,
  annotations: Annotations.prefault({}),
  startsAt: Timestamp,
  endsAt: Timestamp.optional().transform(endOf),
  generatorURL: Text.default(''),
  fingerprint: Text.min(1).max(64),
});

/** What incidents.truncated_alerts holds at most. */
export const MAX_TRUNCATED_ALERTS = 2 ** 31 - 1;

/** Alertmanager's webhook payload, version 4. */
export const WebhookPayloadSchema = z.object({
  version: z.literal('4', { error: 'expected "4" (Alertmanager webhook payload version 4)' }),
  groupKey: Text.min(1).max(10_000).transform(storableGroupKey),
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
  /**
   * Not Alertmanager's: the bot's webhook sets it where Alertmanager left alerts out (its own
   * `truncatedAlerts`, from the receiver's max_alerts). Alertmanager truncates before it works the status
   * out, so the status then tells only of the alerts listed: "resolved" no longer says the group resolved.
   */
  alertmanagerTruncated: z.literal(true).optional(),
});

export type WebhookPayload = z.infer<typeof WebhookPayloadSchema>;
export type Alert = z.infer<typeof AlertSchema>;

/**
 * WebhookPayloadSchema.safeParse, by a quicker way for a payload that is valid: zod's checks of every
 * label and annotation (a map, two refinements and a record each) were a sixth of what the webhook's
 * thread spent on a repeat. `quickParse` gives what the schema gives, or nothing, and then the schema
 * reads the payload again and says what is wrong; test/alerts/payload.test.ts holds them to that.
 */
export function safeParseWebhookPayload(
  input: unknown,
  params?: Parameters<typeof WebhookPayloadSchema.safeParse>[1],
): ReturnType<typeof WebhookPayloadSchema.safeParse> {
  const data = quickParse(input);
  return data ? { success: true, data } : WebhookPayloadSchema.safeParse(input, params);
}

/** WebhookPayloadSchema.parse, the same way. */
export function parseWebhookPayload(input: unknown): WebhookPayload {
  return quickParse(input) ?? WebhookPayloadSchema.parse(input);
}

const isText = (value: unknown): value is string =>
  typeof value === 'string' && !value.includes('\u0000') && value.isWellFormed();
const RFC3339_PATTERN = RFC3339._zod.def.pattern!;
const isTimestamp = (value: unknown): value is string =>
  typeof value === 'string' && RFC3339_PATTERN.test(value) && hasYearOne(value) && hasPostgresOffset(value);
const isStatus = (value: unknown): value is 'firing' | 'resolved' =>
  value === 'firing' || value === 'resolved';

/** What the schema makes of a payload it accepts, in the same order of keys; undefined for any doubt. */
function quickParse(input: unknown): WebhookPayload | undefined {
  if (!isObject(input) || input.version !== '4') return undefined;
  const { groupKey, truncatedAlerts = 0, status, receiver, externalURL = '', alerts } = input;
  const { alertmanagerTruncated } = input;
  if (alertmanagerTruncated !== undefined && alertmanagerTruncated !== true) return undefined;
  if (!isText(groupKey) || groupKey.length < 1 || groupKey.length > 10_000) return undefined;
  if (typeof truncatedAlerts !== 'number' || !Number.isSafeInteger(truncatedAlerts) || truncatedAlerts < 0)
    return undefined;
  if (!isStatus(status) || !isText(receiver) || !isText(externalURL)) return undefined;
  if (!Array.isArray(alerts) || alerts.length === 0) return undefined;
  const groupLabels = quickRecord(orEmpty(input.groupLabels));
  const commonLabels = quickRecord(orEmpty(input.commonLabels));
  const commonAnnotations = quickRecord(orEmpty(input.commonAnnotations), cutAnnotation);
  if (!groupLabels || !commonLabels || !commonAnnotations) return undefined;
  const parsed: Alert[] = [];
  for (const alert of alerts) {
    const one = quickAlert(alert);
    if (!one) return undefined;
    parsed.push(one);
  }
  return {
    version: '4',
    groupKey: storableGroupKey(groupKey),
    truncatedAlerts: Math.min(truncatedAlerts, MAX_TRUNCATED_ALERTS),
    status,
    receiver,
    groupLabels,
    commonLabels,
    commonAnnotations,
    externalURL,
    alerts: parsed,
    ...(alertmanagerTruncated ? { alertmanagerTruncated } : {}),
  };
}

function quickAlert(input: unknown): Alert | undefined {
  if (!isObject(input)) return undefined;
  const { status, startsAt, generatorURL = '', fingerprint } = input;
  if (!isStatus(status) || !isTimestamp(startsAt) || !isText(generatorURL)) return undefined;
  if (!isText(fingerprint) || fingerprint.length < 1 || fingerprint.length > 64) return undefined;
  const hasEnd = 'endsAt' in input;
  if (hasEnd && !isTimestamp(input.endsAt)) return undefined;
  const labels = input.labels === undefined ? undefined : quickRecord(input.labels);
  const annotations = quickRecord(orEmpty(input.annotations), cutAnnotation);
  if (!labels || !annotations) return undefined;
  // As the schema: an endsAt sent is a key of the result, undefined when it is Go's zero time.
  return {
    status,
    labels,
    annotations,
    startsAt,
    ...(hasEnd ? { endsAt: endOf(input.endsAt as string) } : {}),
    generatorURL,
    fingerprint,
  } as Alert;
}

/** As `.prefault({})`: only a record not sent is empty; null is refused. */
const orEmpty = (record: unknown) => (record === undefined ? {} : record);

/** As dataRecord: names and values text, on a record without a prototype. */
function quickRecord(
  input: unknown,
  value: (text: string) => string = (text) => text,
): Record<string, string> | undefined {
  if (!isObject(input)) return undefined;
  const record: Record<string, string> = Object.create(null);
  for (const [name, item] of Object.entries(input)) {
    if (!isText(name) || !isText(item)) return undefined;
    record[name] = value(item);
  }
  return record;
}
