import { z } from 'zod';

const UNITS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;
export const DAY_MS = UNITS.d;

const toMs = (text: string) => Number(text.slice(0, -1)) * UNITS[text.at(-1) as keyof typeof UNITS];

// A year: longer than anything the bot waits for, and what keeps `now() - duration` inside PostgreSQL's
// timestamps (9999999d would put it before 4713 BC, and fail every query that compares with it).
const MAX_DAYS = 365;
const MAX_MS = MAX_DAYS * UNITS.d;
const AT_MOST = `expected at most ${MAX_DAYS}d`;

/** `30s`, `15m`, `2h`, `7d` as milliseconds; zero is refused (a reminder every 0 s would never stop). */
export const Duration = z
  .string()
  .regex(/^[1-9]\d{0,6}(s|m|h|d)$/, 'expected a duration like 30s, 15m, 2h or 7d')
  .transform(toMs)
  .refine((ms) => ms <= MAX_MS, AT_MOST);

// The longest a Node timer waits is 2^31 - 1 ms (about 24.8 days): a longer one fires at once.
const MAX_TIMER_DAYS = 24;

/** A duration a timer waits out (a timeout, a refresh): at most MAX_TIMER_DAYS. */
export const TimerDuration = Duration.refine(
  (ms) => ms <= MAX_TIMER_DAYS * UNITS.d,
  `expected at most ${MAX_TIMER_DAYS}d (the longest a timer waits)`,
);

/**
 * A wait from a moment: `0` (at once; YAML's number 0 too) or a duration. A negative number is refused
 * with the others that are not durations.
 */
export const Delay = z
  .preprocess((input) => (typeof input === 'number' ? String(input) : input), z.string())
  .pipe(
    z
      .string()
      .regex(/^(0|[1-9]\d{0,6}(s|m|h|d))$/, 'expected 0 (at once) or a duration like 30s, 15m, 2h or 7d')
      .transform((text) => (text === '0' ? 0 : toMs(text)))
      .refine((ms) => ms <= MAX_MS, AT_MOST),
  );

/** A duration, or `none` to turn the thing off. One schema rather than a union, so errors say what is expected. */
export const OptionalDuration = z
  .string()
  .regex(/^(none|[1-9]\d{0,6}(s|m|h|d))$/, 'expected a duration like 30s, 15m, 2h or 7d, or none')
  .transform((text) => (text === 'none' ? null : toMs(text)))
  .refine((ms) => ms === null || ms <= MAX_MS, AT_MOST);

/** How long an incident lasted, the way people say it: `45 min`, `3 h 5 min`, `4 days 2 h`. */
export function formatDuration(ms: number): string {
  const minutes = Math.max(0, Math.round(ms / 60_000));
  if (minutes < 60) return `${minutes} min`;
  const hours = Math.floor(minutes / 60);
  if (hours < 48) return `${hours} h ${minutes % 60} min`;
  return `${Math.floor(hours / 24)} days ${hours % 24} h`;
}

/** As formatDuration, with seconds under a minute, where "0 min" would read as a bug. */
export function spokenDuration(ms: number): string {
  return ms < 60_000 ? `${Math.max(0, Math.round(ms / 1000))} s` : formatDuration(ms);
}
