import { UPDATE_STATUSES, type UpdateStatus } from '../primitives/status.js';
import { isStorableText, UNSTORABLE_TEXT } from '../primitives/text.js';
import { slackDate } from '../render/mrkdwn.js';

/** The status update and resolution forms (Slack modals), and reading what people typed into them. */

export const UPDATE_MODAL = 'incident_update';
export const RESOLVE_MODAL = 'incident_resolve';

export const plain = (text: string) => ({ type: 'plain_text' as const, text });
const STATUS_OPTIONS = UPDATE_STATUSES.map((s) => ({
  text: plain(s[0]!.toUpperCase() + s.slice(1)),
  value: s,
}));

export function textInput(
  blockId: string,
  label: string,
  options: {
    multiline?: boolean;
    optional?: boolean;
    initial?: string | null;
    max?: number;
    hint?: string;
    placeholder?: string;
  },
) {
  return {
    type: 'input',
    block_id: blockId,
    optional: options.optional ?? false,
    label: plain(label),
    ...(options.hint ? { hint: plain(options.hint) } : {}),
    element: {
      type: 'plain_text_input',
      action_id: 'value',
      multiline: options.multiline ?? false,
      max_length: options.max ?? 3000,
      ...(options.placeholder ? { placeholder: plain(options.placeholder) } : {}),
      ...(options.initial ? { initial_value: options.initial.slice(0, options.max ?? 3000) } : {}),
    },
  };
}

/** A form about one incident, whose id travels in private_metadata; its title cut to Slack's 24 characters. */
export function incidentModal<B>(callbackId: string, id: number, title: string, submit: string, blocks: B[]) {
  return {
    type: 'modal',
    callback_id: callbackId,
    private_metadata: String(id),
    title: plain(title.slice(0, 24)),
    submit: plain(submit),
    close: plain('Cancel'),
    blocks,
  };
}

export interface UpdateModalIncident {
  id: number;
  ref: string;
  status: string;
  impact: string | null;
  affected: string | null;
  eta: string | null;
}

export function updateModal(incident: UpdateModalIncident) {
  const current = STATUS_OPTIONS.find((o) => o.value === incident.status);
  return incidentModal(UPDATE_MODAL, incident.id, `Update ${incident.ref}`, 'Post update', [
    {
      type: 'input',
      block_id: 'status',
      label: plain('Status'),
      element: {
        type: 'static_select',
        action_id: 'value',
        options: STATUS_OPTIONS,
        ...(current ? { initial_option: current } : {}),
      },
    },
    textInput('text', 'What changed', { multiline: true }),
    textInput('impact', 'Impact', { optional: true, initial: incident.impact, max: 500 }),
    textInput('affected', 'Affected', { optional: true, initial: incident.affected, max: 500 }),
    textInput('eta', 'ETA', { optional: true, initial: incident.eta, max: 150 }),
    textInput('next_update', 'Next update in (minutes)', {
      optional: true,
      max: 4,
      hint: 'Leave empty for the usual interval of this severity.',
    }),
  ]);
}

const EXPIRE_SILENCE = 'expire';

/** The resolve form; an incident still silenced is offered, checked, to expire its silence too. */
export function resolveModal(incident: { id: number; ref: string; silence?: { endsAt: Date } }) {
  // An option's text and description take 75 characters each: the date goes below.
  const expire = incident.silence && {
    text: { type: 'plain_text', text: 'Expire the silence too' },
    description: { type: 'mrkdwn', text: `until ${slackDate(incident.silence.endsAt)}` },
    value: EXPIRE_SILENCE,
  };
  return incidentModal(RESOLVE_MODAL, incident.id, `Resolve ${incident.ref}`, 'Resolve', [
    textInput('resolution', 'Resolution: what fixed it', { multiline: true }),
    ...(expire
      ? [
          {
            type: 'input',
            block_id: 'silence',
            optional: true,
            label: plain('Silence in Alertmanager'),
            element: {
              type: 'checkboxes',
              action_id: 'value',
              options: [expire],
              initial_options: [expire],
            },
          },
        ]
      : []),
  ]);
}

export type StateValues = Record<
  string,
  Record<
    string,
    {
      value?: string | null;
      selected_option?: { value?: string } | null;
      selected_options?: Array<{ value?: string }> | null;
    }
  >
>;

export const fieldValue = (values: StateValues, block: string) => {
  const value = values[block]?.value?.value;
  // Payloads come from outside: anything but a string is no answer.
  return typeof value === 'string' ? value.trim() || undefined : undefined;
};

export type Submission<T> = { ok: true; input: T } | { ok: false; errors: Record<string, string> };

/** What is wrong with a free-text field's value, if anything, to show under the field. */
export function freeTextProblem(value: string | undefined, max: number): string | undefined {
  if (value === undefined) return undefined;
  if (!isStorableText(value)) return `This field ${UNSTORABLE_TEXT}.`;
  if (value.length > max) return `Keep it under ${max} characters.`;
  return undefined;
}

/** What the form gives a status update; who sent it and the request key come from the submission. */
export interface UpdateSubmission {
  text: string;
  status?: UpdateStatus;
  impact?: string;
  affected?: string;
  eta?: string;
  nextUpdateInMs?: number;
}

/** Validates a submitted update form; errors are keyed by block, as Slack shows them under each field. */
export function readUpdateSubmission(values: StateValues): Submission<UpdateSubmission> {
  const errors: Record<string, string> = {};
  const status = values.status?.value?.selected_option?.value;
  if (status !== undefined && !(UPDATE_STATUSES as readonly string[]).includes(status))
    errors.status = 'Pick a status from the list.';
  const limited = (block: string, max: number) => {
    const value = fieldValue(values, block);
    const problem = freeTextProblem(value, max);
    if (problem) errors[block] = problem;
    return value;
  };
  const text = limited('text', 3000);
  if (!text) errors.text = 'Say what changed.';
  const next = fieldValue(values, 'next_update');
  let nextUpdateInMs: number | undefined;
  if (next !== undefined) {
    const minutes = /^\d{1,4}$/.test(next) ? Number(next) : Number.NaN;
    if (!(minutes >= 1 && minutes <= 1440)) errors.next_update = 'A whole number of minutes from 1 to 1440.';
    else nextUpdateInMs = minutes * 60_000;
  }
  const impact = limited('impact', 500);
  const affected = limited('affected', 500);
  const eta = limited('eta', 150);
  if (Object.keys(errors).length > 0) return { ok: false, errors };
  return {
    ok: true,
    input: {
      text: text!,
      ...(status ? { status: status as UpdateStatus } : {}),
      ...(impact ? { impact } : {}),
      ...(affected ? { affected } : {}),
      ...(eta ? { eta } : {}),
      ...(nextUpdateInMs ? { nextUpdateInMs } : {}),
    },
  };
}

export function readResolveSubmission(
  values: StateValues,
): Submission<{ resolution: string; expireSilence?: true }> {
  const resolution = fieldValue(values, 'resolution');
  if (!resolution) return { ok: false, errors: { resolution: 'Say how it was resolved.' } };
  const problem = freeTextProblem(resolution, 3000);
  if (problem) return { ok: false, errors: { resolution: problem } };
  const checked = values.silence?.value?.selected_options;
  const expireSilence = Array.isArray(checked) && checked.some((o) => o?.value === EXPIRE_SILENCE);
  return { ok: true, input: { resolution, ...(expireSilence ? { expireSilence: true as const } : {}) } };
}

/** An incident id from a button value or a modal's private_metadata, which arrive from outside. */
export function readIncidentId(raw: unknown): number | undefined {
  return typeof raw === 'string' && /^[1-9]\d{0,8}$/.test(raw) ? Number(raw) : undefined;
}
