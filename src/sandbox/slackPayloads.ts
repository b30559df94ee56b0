import { randomBytes } from 'node:crypto';
import type { Block } from '../render/blockKit.js';
import { viewToApi } from './emulatedViews.js';
import type { EmulatedMessage, EmulatedView } from './slackEmulator.js';
import { messageToApi } from './slackEmulator.js';
import { slackSignatureHeaders } from './slackSigning.js';

/**
 * What Slack sends to an app's request URL when someone uses it: the slash-command form, and the
 * block_actions and view_submission payloads, shaped as Slack documents them and signed.
 */

export interface Workspace {
  teamId: string;
  domain: string;
  appId: string;
}

export interface Person {
  id: string;
  name: string;
}

export const newTriggerId = () => `${Date.now()}.${randomBytes(8).toString('hex')}`;

export function slashCommandForm(
  workspace: Workspace,
  command: {
    command: string;
    text: string;
    user: Person;
    channel: { id: string; name: string };
    triggerId: string;
    responseUrl: string;
  },
): Record<string, string> {
  return {
    token: 'sandbox-verification-token',
    team_id: workspace.teamId,
    team_domain: workspace.domain,
    channel_id: command.channel.id,
    channel_name: command.channel.name,
    user_id: command.user.id,
    user_name: command.user.name,
    command: command.command,
    text: command.text,
    api_app_id: workspace.appId,
    is_enterprise_install: 'false',
    response_url: command.responseUrl,
    trigger_id: command.triggerId,
  };
}

function common(workspace: Workspace, user: Person, triggerId: string) {
  return {
    user: { id: user.id, username: user.name, name: user.name, team_id: workspace.teamId },
    api_app_id: workspace.appId,
    token: 'sandbox-verification-token',
    trigger_id: triggerId,
    team: { id: workspace.teamId, domain: workspace.domain },
    enterprise: null,
    is_enterprise_install: false,
  };
}

/** A click on a button of a message in a channel or thread. */
export function blockActionsPayload(
  workspace: Workspace,
  click: {
    user: Person;
    channel: { id: string; name: string };
    message: EmulatedMessage;
    blockId: string;
    button: Block;
    triggerId: string;
    responseUrl: string;
  },
): Record<string, unknown> {
  const { message, button } = click;
  return {
    type: 'block_actions',
    ...common(workspace, click.user, click.triggerId),
    container: {
      type: 'message',
      message_ts: message.ts,
      channel_id: message.channel,
      is_ephemeral: false,
      ...(message.threadTs ? { thread_ts: message.threadTs } : {}),
    },
    channel: click.channel,
    message: messageToApi(message),
    state: { values: {} },
    response_url: click.responseUrl,
    actions: [
      {
        type: 'button',
        action_id: button.action_id,
        block_id: click.blockId,
        text: button.text,
        ...(button.value !== undefined ? { value: button.value } : {}),
        ...(button.style !== undefined ? { style: button.style } : {}),
        action_ts: (Date.now() / 1000).toFixed(6),
      },
    ],
  };
}

/** A modal's submit button, with what the person entered as `state.values`. */
export function viewSubmissionPayload(
  workspace: Workspace,
  submission: {
    user: Person;
    view: EmulatedView;
    values: Record<string, Record<string, unknown>>;
    triggerId: string;
  },
): Record<string, unknown> {
  const { view } = submission;
  return {
    type: 'view_submission',
    ...common(workspace, submission.user, submission.triggerId),
    view: {
      ...viewToApi(view, workspace.teamId),
      state: { values: submission.values },
      previous_view_id: null,
      root_view_id: view.id,
      app_id: workspace.appId,
    },
    response_urls: [],
  };
}

/** POSTs a form to the app's request URL as Slack does: url-encoded and signed with its signing secret. */
export function sendSigned(
  url: string,
  signingSecret: string,
  form: Record<string, string>,
): Promise<Response> {
  const body = new URLSearchParams(form).toString();
  return fetch(url, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      ...slackSignatureHeaders(signingSecret, body),
    },
    body,
    // Slack gives up on an app that has not acknowledged within 3 seconds; so does the sandbox.
    signal: AbortSignal.timeout(SLACK_ACK_TIMEOUT_MS),
  });
}

export const SLACK_ACK_TIMEOUT_MS = 3000;

/** What sendSigned rejects with when the app took longer than Slack waits. */
export function isAckTimeout(err: unknown): boolean {
  return err instanceof DOMException && err.name === 'TimeoutError';
}
