import { readFile } from 'node:fs/promises';
import { LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { type Matcher, parseMatcher } from '../alerts/matchers.js';
import { Duration, OptionalDuration } from '../primitives/duration.js';
import { dataRecord } from '../primitives/records.js';
import { SEVERITIES, type Severity } from '../primitives/severity.js';
import { ServicesSchema } from './catalog.js';
import { ConfigError, formatZodIssues, requiredMessage } from './errors.js';

// The runbooks' cadence: P0 every 15 minutes, P1 every 30, P2 hourly; P3 and P4 no reminders.
const DEFAULT_UPDATE_INTERVALS: Record<Severity, number | null> = {
  P0: 15 * 60_000,
  P1: 30 * 60_000,
  P2: 60 * 60_000,
  P3: null,
  P4: null,
};

const ChannelId = z.string().regex(/^[CG][A-Z0-9]{6,}$/, 'expected a Slack channel id like C0123ABCD');
const SeveritySchema = z.enum(SEVERITIES, { error: 'expected one of P0, P1, P2, P3, P4' });

const MatcherText = z.string().transform((text, ctx): Matcher => {
  const parsed = parseMatcher(text);
  if ('error' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return parsed;
});

const RateLimit = z
  .object({
    perMinute: z.number().positive().max(6000),
    burst: z.number().int().min(1).max(1000),
  })
  .strict();

/** The most alerts a message may list: the worst case for templates when the file says nothing. */
export const MAX_ALERTS_SHOWN = 20;

const FileSchema = z
  .object({
    slack: z
      .object({
        defaultChannel: ChannelId,
        // An incident's Slack messages change at most once per interval: a storm of deliveries
        // becomes a few updates. The first message of a new incident goes out at once.
        syncIntervalMs: z.number().int().min(0).max(60_000).default(1000),
        // Slack's published limits: chat.postMessage about 1/s per channel, chat.update Tier 3 (50/min).
        rateLimits: z
          .object({
            postMessagePerChannel: RateLimit.prefault({ perMinute: 60, burst: 3 }),
            update: RateLimit.prefault({ perMinute: 50, burst: 10 }),
          })
          .strict()
          .prefault({}),
      })
      .strict(),
    alerts: z
      .object({
        severityLabel: z.string().min(1).default('severity'),
        // From the runbooks: critical alerts are P0 (immediate), warnings P1 (within the hour).
        severities: dataRecord(z.string(), SeveritySchema).prefault({
          critical: 'P0',
          warning: 'P1',
          info: 'P3',
        }),
        defaultSeverity: SeveritySchema.default('P2'),
        // Each shown alert takes two blocks; Slack allows 50 per message.
        maxAlertsShown: z.number().int().min(1).max(MAX_ALERTS_SHOWN).default(10),
      })
      .strict()
      .prefault({}),
    incidents: z
      .object({
        // A channel of its own per declared incident (inc-<yyyymmdd>-<slug>), announced here.
        createChannel: z.boolean().default(false),
        announcementChannel: ChannelId.optional(),
        // How long an open incident may go without a status update before the commander is reminded.
        updateIntervals: z
          .object({
            P0: OptionalDuration,
            P1: OptionalDuration,
            P2: OptionalDuration,
            P3: OptionalDuration,
            P4: OptionalDuration,
          })
          .partial()
          .strict()
          .default({})
          .transform((given) => ({ ...DEFAULT_UPDATE_INTERVALS, ...given })),
        commanderReminderAfter: OptionalDuration.default(5 * 60_000),
        postmortemOnResolve: z.boolean().default(false),
      })
      .strict()
      .prefault({}),
    services: ServicesSchema,
    actions: z
      .object({
        // While a service runs degraded, remind the incident's commander after this long (the runbooks' 24 h).
        degradationReminderAfter: Duration.default(24 * 3_600_000),
        // How long a running action's job lock lasts: a worker that dies is noticed after about this.
        workerLockDuration: Duration.default(30_000),
      })
      .strict()
      .prefault({}),
    routes: z
      .array(
        z
          .object({
            matchers: z.array(MatcherText).min(1, 'expected at least one matcher'),
            channel: ChannelId,
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

export type FileConfig = z.infer<typeof FileSchema>;

export function parseFileConfig(source: string, text: string): FileConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter: lines });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `line ${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`),
    );
  }
  const result = FileSchema.safeParse(doc.toJS() ?? {}, requiredMessage);
  if (!result.success) throw new ConfigError(source, formatZodIssues(result.error));
  return result.data;
}

export async function loadFileConfig(path: string): Promise<FileConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [
      `cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? err}`,
    ]);
  }
  return parseFileConfig(path, text);
}
