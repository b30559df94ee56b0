import type pg from 'pg';
import type { AlertmanagerApi } from '../alertmanager/alertmanagerApi.js';
import type { Membership } from '../approvals/policy.js';
import type { SilencesConfig } from './configSchema.js';

/**
 * Silencing an incident's alerts in Alertmanager itself, from Slack: set, extend, lift. Alertmanager
 * holds the silence; Postgres records which one is the incident's (incident_silences), and the timeline
 * and the root message show it.
 */

export type { SilenceMatcher } from '../alertmanager/alertmanagerApi.js';
export { activeSilence, type IncidentSilence } from '../incidents/incidentSilences.js';
export type { SilencesConfig } from './configSchema.js';
export { SilenceError, type SilenceErrorCode } from './errors.js';
export {
  type MatcherSource,
  parseSilenceDuration,
  parseSilenceMatchers,
  proposedMatchers,
} from './matchers.js';

/** What must happen outside Postgres after a silence changes (queue jobs, in production). */
export interface SilenceEffects {
  /** Slack must come to show `version`. */
  changed(incidentId: number, version: number): Promise<void>;
  /** At `at` the incident's silence ends: record that, so the root stops showing it. */
  silenceEnds(incidentId: number, at: Date): Promise<void>;
}

export interface SilenceDeps {
  pool: pg.Pool;
  /** Undefined when `alertmanager:` is not configured. */
  alertmanager: AlertmanagerApi | undefined;
  config: { silences: SilencesConfig };
  membership: Membership;
  effects: SilenceEffects;
}
