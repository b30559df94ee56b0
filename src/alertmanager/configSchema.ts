import { z } from 'zod';
import { Duration, TimerDuration } from '../primitives/duration.js';

/** `alertmanager` in the YAML config: the Alertmanager API the bot writes silences to. */

const BaseUrl = z
  .string()
  .refine(
    (value) => {
      try {
        const url = new URL(value);
        return (url.protocol === 'http:' || url.protocol === 'https:') && !url.username && !url.password;
      } catch {
        return false;
      }
    },
    // Credentials come from the environment (ALERTMANAGER_API_*), never from the file.
    { message: 'expected a base URL like http://alertmanager:9093, without credentials' },
  )
  .transform((value) => (value.endsWith('/') ? value : `${value}/`));

export const AlertmanagerConfigSchema = z
  .object({
    // An HA cluster's peers: the first that answers is written to, and gossips the rest.
    urls: z.array(BaseUrl).min(1, 'expected at least one Alertmanager URL'),
    // How long one peer may take to answer before the next is tried.
    timeout: TimerDuration.default(5_000),
    // How long Prometheus takes to send a restarted Alertmanager every firing alert again (its resend
    // delay plus a rule evaluation): a peer that has run less is not taken at its word that an alert is
    // gone (see AlertmanagerApi.liveAlerts).
    alertsResentWithin: Duration.default(5 * 60_000),
  })
  .strict()
  .optional();

export type AlertmanagerConfig = NonNullable<z.infer<typeof AlertmanagerConfigSchema>>;
