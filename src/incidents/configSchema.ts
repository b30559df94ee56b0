import { z } from 'zod';
import { OptionalDuration } from '../primitives/duration.js';
import type { Severity } from '../primitives/severity.js';
import { ChannelId } from '../slack/configSchema.js';

/** `incidents` in the YAML config: channels, reminders and post-mortems of declared incidents. */

// The runbooks' cadence: P0 every 15 minutes, P1 every 30, P2 hourly; P3 and P4 no reminders.
const DEFAULT_UPDATE_INTERVALS: Record<Severity, number | null> = {
  P0: 15 * 60_000,
  P1: 30 * 60_000,
  P2: 60 * 60_000,
  P3: null,
  P4: null,
};

export const IncidentsConfigSchema = z
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
  .prefault({});

export type IncidentsConfig = z.infer<typeof IncidentsConfigSchema>;
