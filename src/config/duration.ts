import { z } from 'zod';

const UNITS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

/** `30s`, `15m`, `2h` as milliseconds. */
export const Duration = z
  .string()
  .regex(/^\d+(s|m|h)$/, 'expected a duration like 30s, 15m or 2h')
  .transform((text) => Number(text.slice(0, -1)) * UNITS[text.at(-1) as keyof typeof UNITS]);

/** A duration, or `none` to turn the thing off. */
export const OptionalDuration = z.union([z.literal('none').transform(() => null), Duration]);
