import type { SilenceMatcher } from '../alertmanager/alertmanagerApi.js';
import { BLOCK_KIT_LIMITS } from '../render/blockKit.js';
import { slackDate, userMention } from '../render/mrkdwn.js';
import { incidentModal, plain, textInput } from './modals.js';

/** The forms that silence an incident's alerts in Alertmanager and extend that silence. */

export const SILENCE_MODAL = 'incident_silence';
export const EXTEND_MODAL = 'incident_extend';
/** The duration choice that reads the custom field instead. */
export const CUSTOM_DURATION = 'custom';

const HOUR = 3_600_000;
const CHOICES = [1, 4, 24].map((hours) => ({ hours, value: `${hours}h` }));

/** A maximum the way the custom field takes it: `7d`, `36h`, `90m`. */
function typedDuration(ms: number): string {
  if (ms % (24 * HOUR) === 0) return `${ms / (24 * HOUR)}d`;
  if (ms % HOUR === 0) return `${ms / HOUR}h`;
  return `${Math.floor(ms / 60_000)}m`;
}

// Only the choices within silences.maxDuration, a choice the bot would refuse is not offered; with
// none within it, the maximum itself.
function choices(maxMs: number, prefix = '') {
  const within = CHOICES.filter((c) => c.hours * HOUR <= maxMs).map((c) => ({
    label: `${c.hours} h`,
    value: c.value,
  }));
  const offered = within.length > 0 ? within : [{ label: typedDuration(maxMs), value: typedDuration(maxMs) }];
  return offered.map((c) => ({ text: plain(`${prefix}${c.label}`), value: c.value }));
}

/**
 * A matcher as the form's field shows it: name="value", quoted as Alertmanager's matcher syntax is (\",
 * \\ and \n): a line break in a value would split it over two lines, neither of them matching.
 */
function matcherLine(m: SilenceMatcher): string {
  return `${m.name}="${m.value.replace(/["\\]/g, '\\$&').replace(/\n/g, '\\n')}"`;
}

/** Whole lines only, within the field's limit: a line cut short would match something else. */
function matcherLines(matchers: readonly SilenceMatcher[]): { text: string; left: number } {
  const lines: string[] = [];
  let length = 0;
  for (const line of matchers.map(matcherLine)) {
    if (length + line.length + 1 > BLOCK_KIT_LIMITS.textInputLength) break;
    lines.push(line);
    length += line.length + 1;
  }
  return { text: lines.join('\n'), left: matchers.length - lines.length };
}

export interface SilenceModalIncident {
  id: number;
  ref: string;
  groupLabels: Record<string, string>;
  /** What proposedMatchers gives for it. */
  proposed: { matchers: readonly SilenceMatcher[]; source: 'groupLabels' | 'commonLabels' };
}

function sourceText(incident: SilenceModalIncident): string {
  if (incident.proposed.source === 'groupLabels') {
    return "Proposed from the group's labels (your route's `group_by`): the alerts of this incident.";
  }
  return Object.keys(incident.groupLabels).length === 0
    ? "Proposed from the labels all its alerts share: your route has no `group_by`, so the group's labels name nothing."
    : "Proposed from the labels all its alerts share: the group's labels alone would silence this alert everywhere.";
}

export function silenceModal(incident: SilenceModalIncident, maxDurationMs: number) {
  const options = [...choices(maxDurationMs), { text: plain('Custom'), value: CUSTOM_DURATION }];
  const lines = matcherLines(incident.proposed.matchers);
  const context = [sourceText(incident)];
  if (lines.left > 0) context.push(`${lines.left} more labels did not fit in the field and were left out.`);
  return incidentModal(SILENCE_MODAL, incident.id, `Silence ${incident.ref}`, 'Silence', [
    {
      type: 'input',
      block_id: 'duration',
      label: plain('For how long'),
      element: { type: 'static_select', action_id: 'value', options, initial_option: options[0] },
    },
    textInput('custom_duration', 'Custom duration', {
      optional: true,
      max: 10,
      placeholder: '90m, 12h, 3d',
      hint: `Used when you pick Custom: minutes (m), hours (h) or days (d), at most ${typedDuration(maxDurationMs)}.`,
    }),
    textInput('reason', 'Reason', { max: 500, placeholder: 'deploying the fix' }),
    textInput('matchers', 'Silence the alerts with all of these labels', {
      multiline: true,
      initial: lines.text,
      hint: 'One name="value" per line, equality only. Remove lines to silence more; keep at least one.',
    }),
    { type: 'context', elements: context.map((text) => ({ type: 'mrkdwn', text })) },
  ]);
}

export interface ExtendModalIncident {
  id: number;
  ref: string;
  silence: { endsAt: Date; silencedBy: string };
}

export function extendModal(incident: ExtendModalIncident, maxDurationMs: number) {
  const options = choices(maxDurationMs, '+');
  const { endsAt, silencedBy } = incident.silence;
  return incidentModal(EXTEND_MODAL, incident.id, `Extend ${incident.ref}`, 'Extend', [
    {
      type: 'section',
      text: {
        type: 'mrkdwn',
        text: `🔕 Silenced until ${slackDate(endsAt)} by ${userMention(silencedBy)}. Extending adds to its end, up to ${typedDuration(maxDurationMs)} from now.`,
      },
    },
    {
      type: 'input',
      block_id: 'duration',
      label: plain('Extend by'),
      element: { type: 'static_select', action_id: 'value', options, initial_option: options[0] },
    },
  ]);
}
