import type { App, ReceiverEvent } from '@slack/bolt';
import { z } from 'zod';
import { formatPath } from '../config/errors.js';
import { type ClientWait, CONNECTION_TIMEOUT_MS, withClientWait } from '../db/pool.js';
import type { Logger } from '../observability/logger.js';

/**
 * What Slack sends the bot, checked before Bolt reads any of it: Bolt trusts the shape of what it is
 * given (a `payload` of `null` makes it throw deep inside), and so would our listeners. Objects stay
 * loose, since Slack adds fields; what the bot or Bolt reads is required to be what Slack documents.
 */

const Id = z.string().regex(/^[A-Z][A-Z0-9]{1,39}$/, 'expected a Slack id');
const TriggerId = z.string().regex(/^[\w.-]{1,255}$/, 'expected a trigger id');
const Ts = z.string().regex(/^\d{1,12}\.\d{1,9}$/, 'expected a message ts');
const Name = z.string().max(255);
// Null for an org-wide install, absent in some payloads: Bolt then reads user.team_id.
const Team = z.looseObject({ id: Id }).nullish();

const SlashCommand = z.looseObject({
  command: z.string().regex(/^\/[\w-]{1,31}$/, 'expected a slash command'),
  text: z.string().optional(),
  user_id: Id,
  channel_id: Id,
  team_id: Id,
  trigger_id: TriggerId,
});

const BlockActions = z.looseObject({
  type: z.literal('block_actions'),
  user: z.looseObject({ id: Id }),
  team: Team,
  trigger_id: TriggerId,
  channel: z.looseObject({ id: Id }).optional(),
  container: z
    .looseObject({ message_ts: Ts.optional(), channel_id: Id.optional(), thread_ts: Ts.optional() })
    .optional(),
  message: z.looseObject({ ts: Ts, thread_ts: Ts.optional() }).optional(),
  actions: z
    .array(z.looseObject({ action_id: Name, value: z.string().max(2000).optional() }))
    .min(1, 'expected at least one action'),
});

const StateValue = z.looseObject({
  value: z.string().nullable().optional(),
  selected_option: z.looseObject({ value: z.string() }).nullable().optional(),
});
const View = z.looseObject({
  id: z.string().regex(/^[\w-]{1,255}$/, 'expected a view id'),
  callback_id: Name,
  private_metadata: z.string().max(3000).optional(),
  state: z.looseObject({ values: z.record(z.string(), z.record(z.string(), StateValue)) }),
});
const ViewAction = z.looseObject({
  type: z.enum(['view_submission', 'view_closed']),
  user: z.looseObject({ id: Id }),
  team: Team,
  view: View,
});

// Shortcuts, select menus' options and the like get a 400: manifest.yml declares none of them.
const Interaction = z.discriminatedUnion('type', [BlockActions, ViewAction], {
  error: 'expected block_actions, view_submission or view_closed',
});

/** The Events API's JSON bodies. The app subscribes to no events; Slack may still verify the URL. */
const EventsBody = z.discriminatedUnion('type', [
  z.looseObject({ type: z.literal('url_verification'), challenge: z.string().max(1000) }),
  z.looseObject({ type: z.literal('event_callback'), event: z.looseObject({ type: z.string() }) }),
]);

export type SlackEnvelope =
  | { kind: 'ssl_check' }
  | { kind: 'url_verification'; challenge: string }
  | { kind: 'dispatch'; body: Record<string, unknown> };

export type EnvelopeResult = { ok: true; envelope: SlackEnvelope } | { ok: false; problem: string };

function check(schema: z.ZodType, value: unknown, prefix: string): string | undefined {
  const parsed = schema.safeParse(value);
  if (parsed.success) return undefined;
  const issue = parsed.error.issues[0]!;
  return `${formatPath([prefix, ...issue.path].filter((p) => p !== ''))}: ${issue.message}`;
}

/**
 * A form body (slash command, or an interaction's JSON in `payload`) or a JSON body (the Events API),
 * already parsed. The body handed on is the one Slack sent, not a copy zod made: only checked.
 */
export function readEnvelope(form: Record<string, string> | undefined, json?: unknown): EnvelopeResult {
  if (form) {
    if (form.ssl_check === '1') return { ok: true, envelope: { kind: 'ssl_check' } };
    if ('payload' in form) {
      let payload: unknown;
      try {
        payload = JSON.parse(form.payload!);
      } catch {
        return { ok: false, problem: 'payload: not valid JSON' };
      }
      const problem = check(Interaction, payload, 'payload');
      return problem
        ? { ok: false, problem }
        : { ok: true, envelope: { kind: 'dispatch', body: payload as Record<string, unknown> } };
    }
    const problem = check(SlashCommand, form, '');
    return problem ? { ok: false, problem } : { ok: true, envelope: { kind: 'dispatch', body: form } };
  }
  const problem = check(EventsBody, json, '');
  if (problem) return { ok: false, problem };
  const body = json as { type: string; challenge?: string };
  return body.type === 'url_verification'
    ? { ok: true, envelope: { kind: 'url_verification', challenge: body.challenge! } }
    : { ok: true, envelope: { kind: 'dispatch', body: body as Record<string, unknown> } };
}

/** A request that came over Socket Mode, where Slack sends each kind as JSON of the same shape. */
export function readSocketBody(body: unknown): EnvelopeResult {
  const b = body as { command?: unknown; type?: unknown } | null;
  const schema =
    typeof b === 'object' && b !== null && 'command' in b
      ? SlashCommand
      : b?.type === 'event_callback'
        ? EventsBody
        : Interaction;
  const problem = check(schema, body, '');
  return problem
    ? { ok: false, problem }
    : { ok: true, envelope: { kind: 'dispatch', body: body as Record<string, unknown> } };
}

/** How long Slack waits for an acknowledgement before it shows the person an error. */
export const ACK_DEADLINE_MS = 3000;

/**
 * How long a request's work waits for a busy pool's client once it is acknowledged: nobody times it but
 * the person waiting for its answer, who is better told it late than told to try again.
 */
export const AFTER_ACK_CLIENT_WAIT_MS = 10_000;

/**
 * Hands a checked request to Bolt. A click or form no listener answers (an unknown action_id or
 * callback_id) is acknowledged here once Bolt is done with it, so Slack shows no error and nothing
 * waits out the 3 seconds. Until the acknowledgement, the request's work waits CONNECTION_TIMEOUT_MS for
 * a busy pool's client, so as to answer within Slack's 3 seconds; after it, AFTER_ACK_CLIENT_WAIT_MS.
 */
export async function dispatchToBolt(app: App, event: ReceiverEvent, logger: Logger): Promise<void> {
  let acked = false;
  const clientWait: ClientWait = { ms: CONNECTION_TIMEOUT_MS };
  const ack: ReceiverEvent['ack'] = async (response) => {
    if (acked) return;
    acked = true;
    clientWait.ms = AFTER_ACK_CLIENT_WAIT_MS;
    await event.ack(response);
  };
  // Past Slack's 3 seconds the person has been shown an error: worth a line, as Bolt's receiver wrote.
  const late = setTimeout(() => {
    if (!acked) logger.warn({ slackRequest: describe(event.body) }, 'not acknowledged within 3 seconds');
  }, ACK_DEADLINE_MS);
  try {
    await withClientWait(clientWait, () => app.processEvent({ ...event, ack }));
  } finally {
    clearTimeout(late);
  }
  if (!acked) {
    logger.debug(
      { slackRequest: describe(event.body) },
      'no listener answers this Slack request; acknowledged',
    );
    await ack();
  }
}

/** Which request this is, for a log line: its kind and the ids that routed it, never its text. */
function describe(body: Record<string, unknown>): string {
  const b = body as {
    type?: string;
    command?: string;
    actions?: Array<{ action_id?: string }>;
    view?: { callback_id?: string };
    event?: { type?: string };
  };
  if (b.command) return b.command;
  const id = b.actions?.[0]?.action_id ?? b.view?.callback_id ?? b.event?.type ?? '';
  return `${b.type ?? 'unknown'} ${JSON.stringify(id)}`;
}
