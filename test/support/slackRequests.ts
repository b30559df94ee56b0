import { randomBytes } from 'node:crypto';
import { slackSignatureHeaders } from '../../src/sandbox/slackSigning.js';
import { waitFor } from './services.js';
import { TEST_SECRETS, type TestBot } from './testBot.js';

/** Requests into the bot as Slack sends them: form-encoded, signed with the real v0 scheme. */

export const SRE = { alice: 'U0ALICE', bob: 'U0BOB', carol: 'U0CAROL' } as const;
export const INCIDENT_CHANNEL = 'C0WARROOM';

const triggerId = () => `${Date.now()}.${randomBytes(6).toString('hex')}`;

async function postForm(bot: TestBot, form: Record<string, string>, headers: Record<string, string> = {}) {
  const body = new URLSearchParams(form).toString();
  return fetch(`${bot.url}/slack/events`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...slackSignatureHeaders(TEST_SECRETS.signingSecret, body),
      ...headers,
    },
    body,
  });
}

export interface CommandAnswer {
  status: number;
  /** The ephemeral text Slack would show, or '' for an empty acknowledgement. */
  text: string;
  blocks?: unknown[];
  responseType?: string;
}

export interface CommandOptions {
  user?: string;
  channel?: string;
  trigger?: string;
  command?: string;
  /** Where a late answer goes; by default a URL nothing answers at. */
  responseUrl?: string;
}

/** A slash command's fields as Slack sends them: the form body over HTTP, the payload in Socket Mode. */
export function slashCommandFields(text: string, options: CommandOptions = {}): Record<string, string> {
  return {
    token: 'legacy-verification-token',
    team_id: 'T0SANDBOX',
    channel_id: options.channel ?? INCIDENT_CHANNEL,
    channel_name: 'war-room',
    user_id: options.user ?? SRE.alice,
    user_name: 'alice',
    command: options.command ?? '/incident',
    text,
    api_app_id: 'A0INCIDENTBOT',
    response_url: options.responseUrl ?? 'https://hooks.slack.invalid/commands/1',
    trigger_id: options.trigger ?? triggerId(),
  };
}

export async function slashCommand(
  bot: TestBot,
  text: string,
  options: CommandOptions & { headers?: Record<string, string> } = {},
): Promise<CommandAnswer> {
  const res = await postForm(bot, slashCommandFields(text, options), options.headers);
  const raw = await res.text();
  const json = raw ? (JSON.parse(raw) as { text?: string; blocks?: unknown[]; response_type?: string }) : {};
  return {
    status: res.status,
    text: json.text ?? '',
    ...(json.blocks ? { blocks: json.blocks } : {}),
    ...(json.response_type ? { responseType: json.response_type } : {}),
  };
}

export interface ClickOptions {
  user?: string;
  channel?: string;
  messageTs?: string;
  /** The thread the clicked message is a reply in. */
  threadTs?: string;
}

/** A button click as Slack sends it: the `payload` form field over HTTP, the payload in Socket Mode. */
export function blockActionsPayload(
  actionId: string,
  value: string,
  options: ClickOptions = {},
): Record<string, unknown> {
  const thread = options.threadTs ? { thread_ts: options.threadTs } : {};
  return {
    type: 'block_actions',
    team: { id: 'T0SANDBOX' },
    user: { id: options.user ?? SRE.alice },
    api_app_id: 'A0INCIDENTBOT',
    trigger_id: triggerId(),
    channel: { id: options.channel ?? INCIDENT_CHANNEL },
    container: {
      type: 'message',
      message_ts: options.messageTs ?? '1.000001',
      channel_id: options.channel ?? INCIDENT_CHANNEL,
      ...thread,
    },
    message: { ts: options.messageTs ?? '1.000001', ...thread },
    response_url: 'https://hooks.slack.invalid/actions/1',
    actions: [
      {
        type: 'button',
        action_id: actionId,
        block_id: 'incident_actions',
        value,
        action_ts: `${Date.now() / 1000}`,
      },
    ],
  };
}

export async function clickButton(
  bot: TestBot,
  actionId: string,
  value: string,
  options: ClickOptions = {},
): Promise<number> {
  return sendPayload(bot, blockActionsPayload(actionId, value, options));
}

/** Any interactivity payload, signed and sent as Slack sends it; returns the HTTP status. */
export async function sendPayload(bot: TestBot, payload: Record<string, unknown>): Promise<number> {
  const res = await postForm(bot, { payload: JSON.stringify(payload) });
  await res.text();
  return res.status;
}

const MESSAGE_OF = {
  request:
    'SELECT channel_id AS channel, message_ts AS "messageTs", thread_ts AS "threadTs" FROM action_requests WHERE id = $1',
  incident: 'SELECT channel_id AS channel, root_ts AS "messageTs" FROM incidents WHERE id = $1',
} as const;

/**
 * The message whose buttons act on an action request (its approval message) or an incident (its root
 * message), as a click on it names it: the bot takes a click only from there. Waits until it is posted.
 */
export async function messageOf(
  bot: TestBot,
  of: keyof typeof MESSAGE_OF,
  id: string | number,
): Promise<{ channel: string; messageTs: string; threadTs?: string }> {
  return waitFor(
    async () => {
      const { rows } = await bot.app.pool.query(MESSAGE_OF[of], [Number(id)]);
      const row = rows[0] as
        | { channel: string; messageTs: string | null; threadTs?: string | null }
        | undefined;
      if (!row?.messageTs) return undefined;
      return {
        channel: row.channel,
        messageTs: row.messageTs,
        ...(row.threadTs ? { threadTs: row.threadTs } : {}),
      };
    },
    20_000,
    `the message of ${of} ${id}`,
  );
}

/** A click on a button of that message: `value` names the request or incident, as the bot's buttons do. */
export async function clickOn(
  bot: TestBot,
  of: keyof typeof MESSAGE_OF,
  id: string | number,
  actionId: string,
  options: { user?: string } = {},
): Promise<number> {
  return clickButton(bot, actionId, String(id), { ...options, ...(await messageOf(bot, of, id)) });
}

type FieldValue = string | { selected: string } | { checked: string[] };

const option = (value: string) => ({ value, text: { type: 'plain_text', text: value } });
type SubmittedView = { callback_id: string; private_metadata: string; id?: string };

/** A form submission as Slack sends it: the `payload` form field over HTTP, the payload in Socket Mode. */
export function viewSubmissionPayload(
  view: SubmittedView,
  fields: Record<string, FieldValue>,
  user: string = SRE.alice,
): Record<string, unknown> {
  const values = Object.fromEntries(
    Object.entries(fields).map(([block, value]) => [
      block,
      {
        value:
          typeof value === 'string'
            ? { type: 'plain_text_input', value }
            : 'checked' in value
              ? { type: 'checkboxes', selected_options: value.checked.map(option) }
              : { type: 'static_select', selected_option: option(value.selected) },
      },
    ]),
  );
  return {
    type: 'view_submission',
    team: { id: 'T0SANDBOX' },
    user: { id: user },
    api_app_id: 'A0INCIDENTBOT',
    trigger_id: triggerId(),
    view: {
      id: view.id ?? `V${randomBytes(5).toString('hex').toUpperCase()}`,
      type: 'modal',
      callback_id: view.callback_id,
      private_metadata: view.private_metadata,
      state: { values },
      hash: 'h',
    },
  };
}

/** Submits a modal the way Slack does; returns the bot's answer (empty when it closes the modal). */
export async function submitView(
  bot: TestBot,
  view: SubmittedView,
  fields: Record<string, FieldValue>,
  user: string = SRE.alice,
): Promise<{ status: number; body: { response_action?: string; errors?: Record<string, string> } }> {
  const res = await postForm(bot, { payload: JSON.stringify(viewSubmissionPayload(view, fields, user)) });
  const raw = await res.text();
  return { status: res.status, body: raw ? JSON.parse(raw) : {} };
}

/** The text of the last chat.postEphemeral the bot sent `user`, or ''. */
export function lastEphemeralTo(bot: TestBot, user: string): string {
  return String(
    bot.slack.emulator
      .callsOf('chat.postEphemeral')
      .filter((c) => c.params.user === user)
      .at(-1)?.params.text ?? '',
  );
}
