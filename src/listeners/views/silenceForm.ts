import { incidentRef } from '../../primitives/ids.js';
import { matcherOperator } from '../../primitives/matcherOperator.js';
import { escapeMrkdwn, plainFromMrkdwn, slackDate, truncateForMrkdwn } from '../../render/mrkdwn.js';
import {
  checkSilenceable,
  extendSilence,
  type IncidentSilence,
  parseSilenceDuration,
  parseSilenceMatchers,
  SilenceError,
  type SilenceMatcher,
  silenceIncident,
} from '../../silences/silences.js';
import { fieldValue, freeTextProblem, type StateValues, type Submission } from '../../views/modals.js';
import { CUSTOM_DURATION, EXTEND_MODAL, SILENCE_MODAL } from '../../views/silenceModals.js';
import type { ListenerDeps } from '../deps.js';
import type { Listeners } from '../router.js';
import { registerIncidentForm } from './incidentForm.js';

/**
 * The Silence and Extend forms. What they hold is checked before the form closes, each problem under
 * its field; then the form closes and the bot asks Alertmanager, which may take longer than Slack's
 * 3 seconds, and tells the person how it went in the incident's channel.
 */

const MAX_REASON = 500;

export interface SilenceSubmission {
  durationMs: number;
  reason: string;
  matchers: SilenceMatcher[];
}

/** A SilenceError's message for a form field, which Slack shows as plain text. */
const fieldError = (err: unknown) => {
  // A matcher's or a duration's problem names no one: an id would stand for a person.
  if (err instanceof SilenceError) return plainFromMrkdwn(err.message, (id) => id);
  throw err;
};

/** The duration picked, or typed when Custom is picked, in ms; a problem goes under the field read. */
function readDuration(values: StateValues, maxMs: number, errors: Record<string, string>): number {
  const picked = values.duration?.value?.selected_option?.value;
  const custom = picked === CUSTOM_DURATION;
  const field = custom ? 'custom_duration' : 'duration';
  const text = custom ? fieldValue(values, 'custom_duration') : picked;
  if (typeof text !== 'string' || !text) {
    errors[field] = custom ? 'Type a duration like 90m, 12h or 3d.' : 'Pick how long.';
    return 0;
  }
  try {
    return parseSilenceDuration(text, maxMs);
  } catch (err) {
    errors[field] = fieldError(err);
    return 0;
  }
}

export function readSilenceSubmission(values: StateValues, maxMs: number): Submission<SilenceSubmission> {
  const errors: Record<string, string> = {};
  const durationMs = readDuration(values, maxMs, errors);
  const reason = fieldValue(values, 'reason');
  const reasonProblem = reason
    ? freeTextProblem(reason, MAX_REASON)
    : 'Say why: it is what Alertmanager shows.';
  if (reasonProblem) errors.reason = reasonProblem;
  let matchers: SilenceMatcher[] = [];
  try {
    matchers = parseSilenceMatchers(fieldValue(values, 'matchers') ?? '');
  } catch (err) {
    errors.matchers = fieldError(err);
  }
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return { ok: true, input: { durationMs, reason: reason!, matchers } };
}

export function readExtendSubmission(values: StateValues, maxMs: number): Submission<{ durationMs: number }> {
  const errors: Record<string, string> = {};
  const durationMs = readDuration(values, maxMs, errors);
  return Object.keys(errors).length > 0 ? { ok: false, errors } : { ok: true, input: { durationMs } };
}

function matcherList(matchers: readonly SilenceMatcher[]): string {
  return truncateForMrkdwn(
    matchers.map((m) => `${m.name}${matcherOperator(m)}"${m.value}"`).join(', '),
    1500,
  );
}

/** What the person is told once Alertmanager has the silence. */
export function silencedText(silence: IncidentSilence, extended = false): string {
  const ref = incidentRef(silence.incidentId);
  const what = extended ? `${ref}'s silence now lasts` : `Silenced ${ref}'s alerts in Alertmanager`;
  return `🔕 ${what} until ${slackDate(silence.endsAt)}: \`${escapeMrkdwn(matcherList(silence.matchers))}\`.`;
}

export function unsilencedText(incidentId: number): string {
  return `🔔 ${incidentRef(incidentId)}'s silence is expired: its alerts notify again.`;
}

export function registerSilenceForms(listeners: Listeners, deps: ListenerDeps): void {
  const maxMs = () => deps.config.silences.maxDuration;
  registerIncidentForm(listeners, deps, {
    callbackId: SILENCE_MODAL,
    read: (values: StateValues) => readSilenceSubmission(values, maxMs()),
    errorField: 'reason',
    usage: () => '',
    act: async (id, _input, by) => checkSilenceable(deps, { incidentId: id, userId: by, silenced: false }),
    afterAck: async (id, input, by, requestKey) =>
      silencedText(await silenceIncident(deps, { incidentId: id, userId: by, ...input, requestKey })),
  });
  registerIncidentForm(listeners, deps, {
    callbackId: EXTEND_MODAL,
    read: (values: StateValues) => readExtendSubmission(values, maxMs()),
    errorField: 'duration',
    usage: () => '',
    act: async (id, _input, by) => checkSilenceable(deps, { incidentId: id, userId: by, silenced: true }),
    afterAck: async (id, input, by, requestKey) =>
      silencedText(await extendSilence(deps, { incidentId: id, userId: by, ...input, requestKey }), true),
  });
}
