import { z } from 'zod';
import { Duration, OptionalDuration } from '../primitives/duration.js';
import { dataRecord } from '../primitives/records.js';
import { SEVERITIES } from '../primitives/severity.js';
import { ChannelId } from '../slack/configSchema.js';
import { MAX_HEARTBEAT_ALERTNAME } from '../views/heartbeat.js';
import { type Matcher, parseMatcher } from './matchers.js';

/** `alerts` and `routes` in the YAML config: how Alertmanager's alerts become incidents, and where they go. */

const SeveritySchema = z.enum(SEVERITIES, { error: 'expected one of P0, P1, P2, P3, P4' });

const MatcherText = z.string().transform((text, ctx): Matcher => {
  const parsed = parseMatcher(text);
  if ('error' in parsed) {
    ctx.addIssue({ code: 'custom', message: parsed.error });
    return z.NEVER;
  }
  return parsed;
});

/** The most alerts a message may list: the worst case for templates when the file says nothing. */
export const MAX_ALERTS_SHOWN = 20;

export const AlertsConfigSchema = z
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
    // The webhook cannot tell a lagging peer's late copy from an alert Prometheus sends again with its old
    // startsAt: within this long after the bot stored the resolution it is taken for a late copy.
    lateCopyWindow: OptionalDuration.default(5 * 60_000),
    // A group firing again this soon after its incident resolved is the same trouble back: the incident
    // and its thread reopen rather than page anew.
    reopenWithin: OptionalDuration.default(30 * 60_000),
  })
  .strict()
  .prefault({});

export type AlertsConfig = z.infer<typeof AlertsConfigSchema>;

/** A route's Alertmanager-style matchers, all of which must match (alert routes and escalation routes). */
export const RouteMatchers = z.array(MatcherText).min(1, 'expected at least one matcher');

const RouteSchema = z.object({ matchers: RouteMatchers, channel: ChannelId }).strict();

export type Route = z.infer<typeof RouteSchema>;

export const RoutesSchema = z.array(RouteSchema).default([]);

/**
 * `heartbeat` in the YAML config: an alert that always fires (kube-prometheus's Watchdog). Its absence for
 * `expectEvery` means alerts no longer reach the bot, which then says so. Without the section, no heartbeat.
 */
export const HeartbeatConfigSchema = z
  .object({
    alertname: z.string().min(1).max(MAX_HEARTBEAT_ALERTNAME).default('Watchdog'),
    // Longer than the Watchdog route's repeat_interval in Alertmanager, which is how often it arrives.
    expectEvery: Duration.default(10 * 60_000),
  })
  .strict();

export type HeartbeatConfig = z.infer<typeof HeartbeatConfigSchema>;
