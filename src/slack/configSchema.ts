import { z } from 'zod';

/** `slack` in the YAML config: where messages go by default and how fast the bot may talk to Slack. */

export const ChannelId = z.string().regex(/^[CG][A-Z0-9]{6,}$/, 'expected a Slack channel id like C0123ABCD');

const RateLimitSchema = z
  .object({
    perMinute: z.number().positive().max(6000),
    burst: z.number().int().min(1).max(1000),
  })
  .strict();

export const SlackConfigSchema = z
  .object({
    defaultChannel: ChannelId,
    // An incident's Slack messages change at most once per interval: a storm of deliveries
    // becomes a few updates. The first message of a new incident goes out at once.
    syncIntervalMs: z.number().int().min(0).max(60_000).default(1000),
    // Slack's published limits: chat.postMessage about 1/s per channel, chat.update Tier 3 (50/min),
    // conversations.history and conversations.replies Tier 3 each (looking for a post whose answer was lost).
    rateLimits: z
      .object({
        postMessagePerChannel: RateLimitSchema.prefault({ perMinute: 60, burst: 3 }),
        update: RateLimitSchema.prefault({ perMinute: 50, burst: 10 }),
        history: RateLimitSchema.prefault({ perMinute: 50, burst: 5 }),
      })
      .strict()
      .prefault({}),
  })
  .strict();

export type SlackConfig = z.infer<typeof SlackConfigSchema>;
