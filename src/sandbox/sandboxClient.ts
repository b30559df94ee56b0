import { randomBytes } from 'node:crypto';
import type { Block } from '../render/blockKit.js';
import type { AppManifest } from '../slack/manifest.js';
import { checkMessage, type EmulatedView, type SlackEmulator } from './slackEmulator.js';
import {
  blockActionsPayload,
  isAckTimeout,
  newTriggerId,
  type Person,
  sendSigned,
  slashCommandForm,
  viewSubmissionPayload,
  type Workspace,
} from './slackPayloads.js';

/**
 * Slack's own side of the sandbox: what Slack's servers do when a person in the page types a slash
 * command, clicks a button or submits a modal. It sends the app the same signed requests Slack sends,
 * holds the signing secret (the page never sees it), and shows the app's answers where Slack would:
 * acknowledgement bodies and response_url posts as ephemeral messages, modals until they close.
 */

export class SandboxError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

// Slack's limits on a response_url: five posts within thirty minutes.
const RESPONSE_URL_USES = 5;
const RESPONSE_URL_TTL_MS = 30 * 60_000;

interface ResponseTarget {
  user: string;
  channel: string;
  uses: number;
  expiresAt: number;
}

/** What a person enters in a modal's input, by block id; null for an input left empty. */
export type EnteredValues = Record<string, string | null>;

export class SandboxClient {
  private botUrl?: string;
  private readonly triggers = new Map<string, string>();
  private readonly responseTargets = new Map<string, ResponseTarget>();
  private readonly closedViews = new Set<string>();
  private readonly viewErrors = new Map<string, Record<string, string>>();

  constructor(
    private readonly emulator: SlackEmulator,
    private readonly workspace: Workspace,
    private readonly signingSecret: string,
    private readonly commands: AppManifest['commands'],
  ) {}

  /** Where the app listens, e.g. http://127.0.0.1:3000: known once its server is up. */
  connect(botUrl: string): void {
    this.botUrl = botUrl;
  }

  async command(userId: string, channelId: string, line: string): Promise<void> {
    const user = this.person(userId);
    const channel = this.channel(channelId);
    const match = /^(\/[a-z0-9_-]+)(?:\s+([\s\S]*))?$/.exec(line.trim());
    if (!match) throw new SandboxError(400, 'Type a slash command, like /incident help.');
    const name = match[1]!;
    const spec = this.commands.get(name);
    if (!spec) {
      this.tell(
        user.id,
        channel.id,
        `${name} is not a valid command. The app's commands: ${[...this.commands.keys()].join(', ')}.`,
      );
      return;
    }
    const form = slashCommandForm(this.workspace, {
      command: name,
      text: this.escapeCommandText(match[2] ?? '', spec.shouldEscape),
      user,
      channel,
      triggerId: this.trigger(user.id),
      responseUrl: this.responseUrl(user.id, channel.id),
    });
    const res = await this.deliver(form);
    if (!res) return this.tell(user.id, channel.id, `${name} failed with the error "operation_timeout"`);
    await this.showAnswer(res, user.id, channel.id, name);
  }

  /** A click on the button `actionId` in block `blockIndex` of a message. */
  async click(
    userId: string,
    channelId: string,
    ts: string,
    blockIndex: number,
    actionId: string,
  ): Promise<void> {
    const user = this.person(userId);
    const channel = this.channel(channelId);
    const message = this.emulator.message(channel.id, ts);
    if (!message) throw new SandboxError(404, 'There is no such message.');
    const block = message.blocks[blockIndex];
    const buttons =
      (block?.type === 'actions' ? (block.elements as Block[]) : [block?.accessory as Block]) ?? [];
    const button = buttons.find((b) => b?.type === 'button' && b.action_id === actionId);
    if (!block || !button) throw new SandboxError(404, 'That message has no such button.');
    const payload = blockActionsPayload(this.workspace, {
      user,
      channel,
      message,
      // Slack makes up a block id where the app gave none.
      blockId: typeof block.block_id === 'string' ? block.block_id : `sandbox-block-${blockIndex}`,
      button,
      triggerId: this.trigger(user.id),
      responseUrl: this.responseUrl(user.id, channel.id),
    });
    const res = await this.deliver({ payload: JSON.stringify(payload) });
    if (!res)
      return this.tell(user.id, channel.id, 'The app did not answer that click in time (operation_timeout).');
    // Slack ignores the body of an interaction's acknowledgement; only a failure shows.
    await res.arrayBuffer();
    if (res.status !== 200)
      this.tell(user.id, channel.id, `The app did not answer that click (HTTP ${res.status}).`);
  }

  /** Submits an open modal; answers the errors the app puts under fields, if it refused. */
  async submit(
    userId: string,
    viewId: string,
    entered: EnteredValues,
  ): Promise<{ errors?: Record<string, string> }> {
    const user = this.person(userId);
    const view = this.openView(user.id);
    if (!view || view.id !== viewId) throw new SandboxError(404, 'That form is not open.');
    const payload = viewSubmissionPayload(this.workspace, {
      user,
      view,
      values: stateValues(view, entered),
      triggerId: this.trigger(user.id),
    });
    const res = await this.deliver({ payload: JSON.stringify(payload) });
    if (!res) throw new SandboxError(504, 'The app did not answer the form in time (operation_timeout).');
    const raw = await res.text();
    if (res.status !== 200)
      throw new SandboxError(502, `The app did not accept the form (HTTP ${res.status}).`);
    const answer = parseObject(raw);
    if (answer.response_action === 'errors' && answer.errors && typeof answer.errors === 'object') {
      const errors = Object.fromEntries(
        Object.entries(answer.errors as Record<string, unknown>).map(([k, v]) => [k, String(v)]),
      );
      this.viewErrors.set(view.id, errors);
      return { errors };
    }
    if (answer.response_action !== undefined && answer.response_action !== 'clear') {
      throw new SandboxError(
        502,
        `The sandbox does not emulate response_action ${JSON.stringify(answer.response_action)}.`,
      );
    }
    this.closedViews.add(view.id);
    return {};
  }

  /** The person closed the modal; the bot asks for no view_closed, so Slack tells it nothing. */
  close(userId: string, viewId: string): void {
    const view = this.openView(this.person(userId).id);
    if (!view || view.id !== viewId) throw new SandboxError(404, 'That form is not open.');
    this.closedViews.add(view.id);
  }

  /** The newest modal opened for this person that is still open. */
  openView(userId: string): (EmulatedView & { errors?: Record<string, string> }) | undefined {
    const view = this.emulator
      .openedViews()
      .filter((v) => this.triggers.get(v.triggerId) === userId && !this.closedViews.has(v.id))
      .at(-1);
    if (!view) return undefined;
    const errors = this.viewErrors.get(view.id);
    return errors ? { ...view, errors } : view;
  }

  /** A POST to a response_url this client handed out: shown to the person, or in the channel. */
  respond(key: string, body: Record<string, unknown>): { status: number; error?: string } {
    const target = this.responseTargets.get(key);
    if (!target || target.expiresAt < Date.now() || target.uses >= RESPONSE_URL_USES) {
      return { status: 404, error: 'expired_url' };
    }
    target.uses += 1;
    const content = checkMessage(body);
    if ('error' in content) return { status: 400, error: content.error };
    if (body.response_type === 'in_channel') this.emulator.post(target.channel, undefined, content);
    else this.emulator.addEphemeral(target.channel, target.user, content);
    return { status: 200 };
  }

  private async showAnswer(res: Response, user: string, channel: string, command: string): Promise<void> {
    const raw = await res.text();
    if (res.status !== 200) {
      this.tell(user, channel, `${command} failed with the error "http_service_error" (HTTP ${res.status}).`);
      return;
    }
    if (!raw) return;
    const body = parseObject(raw);
    const content = checkMessage(body);
    if ('error' in content) {
      this.tell(user, channel, `${command} answered with a message Slack refuses: ${content.error}.`);
    } else if (body.response_type === 'in_channel') {
      this.emulator.post(channel, undefined, content);
    } else {
      this.emulator.addEphemeral(channel, user, content);
    }
  }

  private tell(user: string, channel: string, text: string): void {
    this.emulator.addEphemeral(channel, user, { text, blocks: [] });
  }

  /** Slack sends &, < and > as entities, and with should_escape a mention as <@U…|name>. */
  private escapeCommandText(text: string, shouldEscape: boolean): string {
    const escaped = text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
    if (!shouldEscape) return escaped;
    const users = new Map(this.emulator.users().map((u) => [u.name, u.id]));
    const channels = new Map(this.emulator.channels().map((c) => [c.name, c.id]));
    return escaped
      .replace(/(^|\s)@([a-z0-9._-]+)/g, (whole, before: string, name: string) =>
        users.has(name) ? `${before}<@${users.get(name)}|${name}>` : whole,
      )
      .replace(/(^|\s)#([a-z0-9_-]+)/g, (whole, before: string, name: string) =>
        channels.has(name) ? `${before}<#${channels.get(name)}|${name}>` : whole,
      );
  }

  private person(id: string): Person {
    const user = this.emulator.users().find((u) => u.id === id);
    if (!user) throw new SandboxError(400, `There is no user ${id} in the sandbox.`);
    return { id: user.id, name: user.name };
  }

  private channel(id: string): { id: string; name: string } {
    const channel = this.emulator.channels().find((c) => c.id === id);
    if (!channel) throw new SandboxError(400, `There is no channel ${id} in the sandbox.`);
    return { id: channel.id, name: channel.name };
  }

  private trigger(user: string): string {
    const id = newTriggerId();
    this.triggers.set(id, user);
    return id;
  }

  private responseUrl(user: string, channel: string): string {
    const key = randomBytes(16).toString('hex');
    for (const [old, target] of this.responseTargets)
      if (target.expiresAt < Date.now()) this.responseTargets.delete(old);
    this.responseTargets.set(key, { user, channel, uses: 0, expiresAt: Date.now() + RESPONSE_URL_TTL_MS });
    return `${this.baseUrl()}/sandbox/api/respond?key=${key}`;
  }

  /** The signed request to the app's /slack/events; undefined when it did not answer in Slack's time. */
  private async deliver(form: Record<string, string>): Promise<Response | undefined> {
    try {
      return await sendSigned(`${this.baseUrl()}/slack/events`, this.signingSecret, form);
    } catch (err) {
      if (isAckTimeout(err)) return undefined;
      throw err;
    }
  }

  private baseUrl(): string {
    if (!this.botUrl) throw new SandboxError(503, 'The app is not listening yet.');
    return this.botUrl;
  }
}

function parseObject(raw: string): Record<string, unknown> {
  try {
    const value = raw ? JSON.parse(raw) : {};
    return value && typeof value === 'object' && !Array.isArray(value) ? value : {};
  } catch {
    return {};
  }
}

/**
 * view.state.values as Slack builds them from a modal's inputs: by block id, then action id, typed by
 * the element. Only the view's own inputs and a select's own options are taken.
 */
export function stateValues(
  view: EmulatedView,
  entered: EnteredValues,
): Record<string, Record<string, unknown>> {
  const values: Record<string, Record<string, unknown>> = {};
  view.blocks.forEach((block, i) => {
    if (block.type !== 'input') return;
    const blockId = typeof block.block_id === 'string' ? block.block_id : `sandbox-block-${i}`;
    const element = block.element as Block;
    const actionId = typeof element.action_id === 'string' ? element.action_id : 'sandbox-input';
    const value = entered[blockId] ?? null;
    values[blockId] = { [actionId]: elementState(element, value, blockId) };
  });
  return values;
}

function elementState(element: Block, value: string | null, blockId: string): Record<string, unknown> {
  switch (element.type) {
    case 'plain_text_input':
    case 'number_input':
      return { type: element.type, value };
    case 'static_select': {
      const options = (element.options as Array<{ value: string; text: unknown }> | undefined) ?? [];
      const selected = value === null ? null : options.find((o) => o.value === value);
      if (selected === undefined) throw new SandboxError(400, `${blockId}: not one of the options`);
      return { type: element.type, selected_option: selected };
    }
    case 'checkboxes': {
      // The checked options' values, one a line; none checked: null.
      const options = (element.options as Array<{ value: string }> | undefined) ?? [];
      const checked = value === null ? [] : value.split('\n');
      const selected = checked.map((v) => options.find((o) => o.value === v));
      if (selected.some((o) => o === undefined))
        throw new SandboxError(400, `${blockId}: not one of the options`);
      return { type: element.type, selected_options: selected };
    }
    case 'datetimepicker': {
      const seconds = value === null ? null : Math.floor(Date.parse(value) / 1000);
      if (seconds !== null && Number.isNaN(seconds))
        throw new SandboxError(400, `${blockId}: not a date and time`);
      return { type: element.type, selected_date_time: seconds };
    }
    default:
      throw new SandboxError(400, `${blockId}: the sandbox does not emulate ${String(element.type)} inputs`);
  }
}
