import { z } from 'zod';

const UNITS = { s: 1000, m: 60_000, h: 3_600_000 } as const;

const toMs = (text: string) => Number(text.slice(0, -1)) * UNITS[text.at(-1) as keyof typeof UNITS];

/** `30s`, `15m`, `2h` as milliseconds; zero is refused (a reminder every 0 s would never stop). */
export const Duration = z
  .string()
  .regex(/^[1-9]\d{0,6}(s|m|h)$/, 'expected a duration like 30s, 15m or 2h')
  .transform(toMs);

/** A duration, or `none` to turn the thing off. One schema rather than a union, so errors say what is expected. */
export const OptionalDuration = z
  .string()
  .regex(/^(none|[1-9]\d{0,6}(s|m|h))$/, 'expected a duration like 30s, 15m or 2h, or none')
  .transform((text) => (text === 'none' ? null : toMs(text)));
