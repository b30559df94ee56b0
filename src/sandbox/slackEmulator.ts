import { randomBytes } from 'node:crypto';
import {
  createServer,
  type IncomingMessage,
  type RequestListener,
  type Server,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Block, validateBlocks } from '../render/blockKit.js';
import { ChannelRegistry, channelToApi, type EmulatedChannel } from './emulatedChannels.js';
import { type EmulatedFile, FileStore } from './emulatedFiles.js';
import { SocketModeEndpoint } from './emulatedSocketMode.js';
import { type EmulatedView, readModal, ViewStore, viewToApi } from './emulatedViews.js';
import { readParams, readUpload } from './requestBodies.js';

export type { EmulatedChannel, EmulatedFile, EmulatedView };

/**
 * An in-memory emulation of the Slack Web API methods the bot calls. Tests use it as their fake Slack,
 * reached over real HTTP through SLACK_API_URL; it answers the way Slack does, refuses what Slack
 * refuses (invalid_blocks, message_not_found) and can be told to answer 429 or 500.
 */

export interface EmulatedMessage {
  channel: string;
  ts: string;
  threadTs?: string;
  text: string;
  blocks: Block[];
  user: string;
  editedTs?: string;
  /** Files shared by files.completeUploadExternal, as Slack lists them on the message. */
  files?: Array<{ id: string; name: string; title: string }>;
  /** The message metadata it was posted with; Slack lists it only to include_all_metadata. */
  metadata?: { event_type: string; event_payload: Record<string, unknown> };
}

/** A message only one person sees: from chat.postEphemeral, or a slash command's answer. */
export interface EphemeralMessage {
  channel: string;
  user: string;
  ts: string;
  text: string;
  blocks: Block[];
  /** The thread it is shown in (chat.postEphemeral's thread_ts), if any. */
  threadTs?: string;
}

/** A person in the workspace, as users.info describes them. */
export interface EmulatedUser {
  id: string;
  name: string;
  realName: string;
}

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  status: number;
  ok: boolean;
  error?: string;
  at: number;
}

/**
 * How a call fails. `accepted`: Slack carries the call out, then answers 5xx all the same, so the
 * caller cannot tell whether it happened. `byProxy`: the 5xx is a proxy's in front of Slack (an
 * Envoy's 503 for a reset upstream), without Slack's request id: the call may have reached Slack.
 * `answerLost`: Slack carries it out and answers, and the connection drops before the answer arrives
 * (served over HTTP; handled in-process, the answer is given).
 */
export type Fault =
  | { status: 429; retryAfterSeconds: number }
  | { status: 500 | 502 | 503; accepted?: boolean; byProxy?: boolean }
  | { answerLost: true }
  | { error: string };

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body: Record<string, unknown>;
  /** Made by a proxy in front of Slack, not by Slack: no `x-slack-req-id`. */
  byProxy?: boolean;
  /** The connection drops instead of carrying the answer. */
  lost?: boolean;
}

export interface SlackEmulatorOptions {
  /** The only bot token accepted; any xoxb- token when unset. */
  token?: string;
  teamId?: string;
  botUserId?: string;
  /** The only app-level token apps.connections.open accepts; any xapp- token when unset. */
  appToken?: string;
  /** The bot token's scopes, which Slack names in every answer's x-oauth-scopes header. */
  scopes?: readonly string[];
}

type Method = (params: Record<string, unknown>) => Reply;

/** Slack user ids: U…, or W… on Enterprise Grid. */
const USER_ID = /^[UW][A-Z0-9]+$/;

/**
 * The `limit` items (1 to 999, `defaultLimit` unless asked) from the method's `cursor` on, and the cursor
 * to the next ('' at the end), as Slack pages its lists; undefined for a cursor it never gave.
 */
function cursorSlice<T>(
  p: Record<string, unknown>,
  items: T[],
  defaultLimit: number,
): { items: T[]; nextCursor: string } | undefined {
  const limit = Math.min(999, Math.max(1, Number(p.limit) || defaultLimit));
  let start = 0;
  if (p.cursor !== undefined && p.cursor !== '') {
    start = Number(/^offset:(\d+)$/.exec(Buffer.from(String(p.cursor), 'base64').toString())?.[1] ?? -1);
    if (start < 0) return undefined;
  }
  const end = start + limit;
  return {
    items: items.slice(start, end),
    nextCursor: end < items.length ? Buffer.from(`offset:${end}`).toString('base64') : '',
  };
}

export class SlackEmulator {
  readonly calls: RecordedCall[] = [];
  private readonly callWatchers = new Set<(call: RecordedCall) => void>();
  private readonly messages: EmulatedMessage[] = [];
  private readonly faults: Array<{ method: string; fault: Fault }> = [];
  private down?: { until: number; status: 500 | 502 | 503 };
  private readonly refusals = new Map<string, string>();
  private readonly holds: Array<{
    method: string;
    /** Held after Slack carried the call out (holdAnswer) rather than before. */
    answered: boolean;
    arrived: () => void;
    released: Promise<void>;
  }> = [];
  private lastTs = 0;
  private readonly views = new ViewStore();
  private readonly channelRegistry = new ChannelRegistry();
  private readonly fileStore = new FileStore();
  private readonly teamId: string;
  private readonly botUserId: string;
  private readonly userGroups = new Map<string, { id: string; handle: string; users: string[] }>();
  /** Socket Mode: the sockets apps.connections.open opened, for delivering commands and clicks. */
  readonly socketMode = new SocketModeEndpoint('A0INCIDENTBOT');
  private readonly people = new Map<string, EmulatedUser>();
  private readonly unknownPeople = new Set<string>();
  private readonly ephemeralMessages: EphemeralMessage[] = [];
  private readonly methods: Record<string, Method> = {
    'auth.test': () =>
      this.ok({
        url: 'https://sandbox.slack.localhost/',
        team: 'Sandbox',
        user: 'incident-bot',
        team_id: this.teamId,
        user_id: this.botUserId,
        bot_id: 'B0SANDBOX',
      }),
    'apps.connections.open': () => this.openConnection(),
    'chat.postMessage': (p) => this.postMessage(p),
    'chat.update': (p) => this.update(p),
    'chat.postEphemeral': (p) => {
      if (typeof p.channel !== 'string' || typeof p.user !== 'string' || !p.channel || !p.user)
        return this.fail('invalid_arguments');
      const content = this.content(p);
      if ('error' in content) return content.error;
      const threadTs = p.thread_ts === undefined ? undefined : String(p.thread_ts);
      return this.ok({ message_ts: this.addEphemeral(p.channel, p.user, content, threadTs).ts });
    },
    'conversations.history': (p) => {
      const channel = String(p.channel ?? '');
      const refused = this.historyRefused(channel);
      if (refused) return refused;
      // Newest first.
      return this.page(p, this.channelMessages(channel).reverse(), 100);
    },
    'conversations.replies': (p) => {
      const refused = this.historyRefused(String(p.channel ?? ''));
      if (refused) return refused;
      const root = this.find(String(p.channel), String(p.ts));
      if (!root) return this.fail('thread_not_found');
      // The thread's first message heads the first page whatever the window; its replies oldest first.
      return this.page(p, this.threadOf(root.channel, root.ts), 1000, root);
    },
    'conversations.create': (p) => {
      const isPrivate = p.is_private === true || p.is_private === 'true';
      const channel = this.channelRegistry.create(String(p.name ?? ''), isPrivate, this.botUserId);
      return 'error' in channel
        ? this.fail(channel.error)
        : this.ok({ channel: channelToApi(channel, this.botUserId) });
    },
    'conversations.invite': (p) => this.invite(p),
    // The channels a user (the bot, unless named) is in, a page at a time.
    'users.conversations': (p) => {
      const user = typeof p.user === 'string' && p.user ? p.user : this.botUserId;
      const types = String(p.types ?? 'public_channel').split(',');
      const channels = this.channelRegistry
        .all()
        .filter(
          (c) =>
            c.members.includes(user) && types.includes(c.isPrivate ? 'private_channel' : 'public_channel'),
        );
      const slice = cursorSlice(p, channels, 100);
      if (!slice) return this.fail('invalid_cursor');
      return this.ok({
        channels: slice.items.map((c) => channelToApi(c, this.botUserId)),
        response_metadata: { next_cursor: slice.nextCursor },
      });
    },
    'conversations.info': (p) => {
      const channel = this.channelRegistry.get(String(p.channel ?? ''));
      // Slack hides a private channel from a bot outside it.
      if (channel?.isPrivate && !this.options.scopes?.includes('groups:read'))
        return this.fail('missing_scope');
      if (!channel || (channel.isPrivate && !channel.members.includes(this.botUserId)))
        return this.fail('channel_not_found');
      return this.ok({ channel: channelToApi(channel, this.botUserId) });
    },
    'views.open': (p) => {
      if (typeof p.trigger_id !== 'string' || !p.trigger_id) return this.fail('invalid_trigger_id');
      const modal = readModal(p.view);
      if (Array.isArray(modal)) return this.invalidArguments(modal);
      return this.ok({ view: viewToApi(this.views.open(p.trigger_id, modal), this.teamId) });
    },
    'views.update': (p) => {
      const modal = readModal(p.view);
      if (Array.isArray(modal)) return this.invalidArguments(modal);
      const view = this.views.get(String(p.view_id ?? ''));
      if (!view) return this.fail('not_found');
      if (p.hash !== undefined && p.hash !== view.hash) return this.fail('hash_conflict');
      return this.ok({ view: viewToApi(this.views.update(view, modal), this.teamId) });
    },
    'files.getUploadURLExternal': (p) => {
      // The bytes arrive over HTTP: an emulator served nowhere (no baseUrl) cannot take them.
      if (!this.baseUrl) return this.fail('file_uploads_disabled');
      if (typeof p.filename !== 'string' || !p.filename) {
        return this.invalidArguments(['[ERROR] missing required field: filename']);
      }
      // Slack's answer to a missing or zero length.
      if (!(Number(p.length) > 0)) return this.fail('missing_argument');
      const id = this.fileStore.reserve(p.filename);
      return this.ok({ upload_url: `${this.baseUrl}/upload/${id}`, file_id: id });
    },
    'files.completeUploadExternal': (p) => this.completeUpload(p),
    'usergroups.list': () =>
      this.ok({
        usergroups: [...this.userGroups.values()].map((g) => ({
          id: g.id,
          handle: g.handle,
          name: g.handle,
          user_count: g.users.length,
        })),
      }),
    'usergroups.users.list': (p) => {
      const group = this.userGroups.get(String(p.usergroup));
      return group ? this.ok({ users: group.users }) : this.fail('no_such_subteam');
    },
    'users.info': (p) => {
      if (this.options.scopes && !this.options.scopes.includes('users:read'))
        return this.fail('missing_scope', { needed: 'users:read' });
      const id = typeof p.user === 'string' ? p.user : '';
      if (!USER_ID.test(id) || this.unknownPeople.has(id)) return this.fail('user_not_found');
      const bot = id === this.botUserId;
      const known = this.people.get(id);
      const name = bot ? 'incident-bot' : (known?.name ?? id.toLowerCase());
      const realName = bot ? name : (known?.realName ?? `User ${id}`);
      return this.ok({
        user: {
          id,
          team_id: this.teamId,
          name,
          real_name: realName,
          tz: 'UTC',
          is_bot: bot,
          profile: { real_name: realName, display_name: name },
        },
      });
    },
  };

  /** Where the emulator is served, e.g. `http://127.0.0.1:5555`; upload URLs point here. */
  baseUrl?: string;

  constructor(private readonly options: SlackEmulatorOptions = {}) {
    this.teamId = options.teamId ?? 'T0SANDBOX';
    this.botUserId = options.botUserId ?? 'U0INCIDENTBOT';
  }

  /** The next `times` calls of `method` fail with `fault` before reaching the method. */
  failNext(method: string, fault: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push({ method, fault });
  }

  /**
   * Every call fails with `status` for `ms` (until `endOutage()` when unset), as in a Slack outage;
   * failNext's faults wait behind it.
   */
  outage(ms = Number.POSITIVE_INFINITY, status: 500 | 502 | 503 = 503): void {
    this.down = { until: Date.now() + ms, status };
  }

  endOutage(): void {
    this.down = undefined;
  }

  /**
   * From now on chat.postMessage and chat.update in `channel` answer `error`, as Slack does for a
   * channel the bot is not in, that does not exist or that is archived.
   */
  refuseChannel(
    channel: string,
    error:
      | 'not_in_channel'
      | 'channel_not_found'
      | 'is_archived'
      | 'restricted_action'
      | 'restricted_action_read_only_channel',
  ): void {
    this.refusals.set(channel, error);
  }

  /** A user group (as `@handle` in Slack) with its members, for approval policies that name groups. */
  addUserGroup(id: string, handle: string, users: string[]): void {
    this.userGroups.set(id, { id, handle, users: [...users] });
  }

  /** The user groups addUserGroup made. */
  groups(): Array<{ id: string; handle: string; users: string[] }> {
    return [...this.userGroups.values()].map((g) => ({ ...g, users: [...g.users] }));
  }

  /** A person users.info describes by name; other user ids get a made-up name. */
  addUser(user: EmulatedUser): void {
    this.people.set(user.id, { ...user });
  }

  /** users.info answers user_not_found for this id, as Slack does for one not of this workspace. */
  forgetUser(id: string): void {
    this.people.delete(id);
    this.unknownPeople.add(id);
  }

  users(): EmulatedUser[] {
    return [...this.people.values()];
  }

  /** Records a message for one person's eyes; content is checked by the caller (see `content`). */
  addEphemeral(
    channel: string,
    user: string,
    content: { text: string; blocks: Block[] },
    threadTs?: string,
  ): EphemeralMessage {
    const message = {
      channel,
      user,
      ts: this.nextTs(),
      text: content.text,
      blocks: content.blocks,
      ...(threadTs ? { threadTs } : {}),
    };
    this.ephemeralMessages.push(message);
    return message;
  }

  /** Ephemeral messages, all or only those one person was shown. */
  ephemerals(user?: string): EphemeralMessage[] {
    return this.ephemeralMessages.filter((m) => user === undefined || m.user === user);
  }

  /**
   * The next call of `method` waits, unanswered, until `release()`: for tests that need something to
   * happen while a call is in flight. `reached` resolves when the call has arrived.
   */
  hold(method: string): { reached: Promise<void>; release: () => void } {
    return this.addHold(method, false);
  }

  /**
   * The next call of `method` is carried out (a message is posted), then its answer waits until
   * `release()`: for tests that act between Slack accepting a call and the caller reading the answer.
   * `reached` resolves once the call has been carried out.
   */
  holdAnswer(method: string): { reached: Promise<void>; release: () => void } {
    return this.addHold(method, true);
  }

  private addHold(method: string, answered: boolean): { reached: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.holds.push({ method, answered, arrived, released });
    return { reached, release };
  }

  private async waitIfHeld(method: string, answered: boolean): Promise<void> {
    const index = this.holds.findIndex((h) => h.method === method && h.answered === answered);
    if (index < 0) return;
    const [held] = this.holds.splice(index, 1);
    held!.arrived();
    await held!.released;
  }

  channelMessages(channel: string): EmulatedMessage[] {
    return this.messages.filter((m) => m.channel === channel && !m.threadTs);
  }

  threadOf(channel: string, ts: string): EmulatedMessage[] {
    return this.messages.filter((m) => m.channel === channel && m.threadTs === ts);
  }

  /** A message or thread reply by its channel and ts. */
  message(channel: string, ts: string): EmulatedMessage | undefined {
    return this.find(channel, ts);
  }

  allMessages(): EmulatedMessage[] {
    return [...this.messages];
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  openedViews(): EmulatedView[] {
    return this.views.all();
  }

  channels(): EmulatedChannel[] {
    return this.channelRegistry.all();
  }

  /**
   * Makes a channel as conversations.create would, for tests that need one to exist already; made by
   * `creator` (the bot unless named), its only member.
   */
  createChannel(name: string, isPrivate = false, id?: string, creator = this.botUserId): EmulatedChannel {
    const channel = this.channelRegistry.create(name, isPrivate, creator, id);
    if ('error' in channel) throw new Error(`createChannel(${JSON.stringify(name)}): ${channel.error}`);
    return channel;
  }

  /** Files whose bytes were uploaded, shared or not yet. */
  files(): EmulatedFile[] {
    return this.fileStore.all();
  }

  /**
   * Tells `watcher` of each call as it is handled (its `at`), until the returned function is called: for
   * benches that time a click until the call that shows its result, without scanning `calls`.
   */
  onCall(watcher: (call: RecordedCall) => void): () => void {
    this.callWatchers.add(watcher);
    return () => this.callWatchers.delete(watcher);
  }

  handle(method: string, params: Record<string, unknown>, authorization: string | undefined): Reply {
    const reply = this.dispatch(method, params, authorization);
    const call: RecordedCall = {
      method,
      params,
      status: reply.status,
      ok: reply.body.ok === true,
      ...(typeof reply.body.error === 'string' ? { error: reply.body.error } : {}),
      at: Date.now(),
    };
    this.calls.push(call);
    for (const watcher of this.callWatchers) watcher(call);
    return reply;
  }

  private dispatch(
    method: string,
    params: Record<string, unknown>,
    authorization: string | undefined,
  ): Reply {
    const token =
      authorization?.replace(/^Bearer /, '') ?? (typeof params.token === 'string' ? params.token : '');
    if (!token) return this.fail('not_authed');
    const refused =
      method === 'apps.connections.open' ? this.appTokenRefused(token) : this.botTokenRefused(token);
    if (refused) return refused;
    // An outage and faults reach apps.connections.open too: Socket Mode reconnects through them.
    if (this.down && Date.now() < this.down.until)
      return { status: this.down.status, body: { ok: false, error: 'internal_error' } };
    const faultIndex = this.faults.findIndex((f) => f.method === method);
    if (faultIndex >= 0) {
      const { fault } = this.faults.splice(faultIndex, 1)[0]!;
      if ('error' in fault) return this.fail(fault.error);
      if ('answerLost' in fault) return { ...this.carryOut(method, params), lost: true };
      if (fault.status === 429) {
        return {
          status: 429,
          headers: { 'retry-after': String(fault.retryAfterSeconds) },
          body: { ok: false, error: 'ratelimited' },
        };
      }
      if (fault.accepted) this.methods[method]?.(params);
      return fault.byProxy
        ? {
            status: fault.status,
            body: { error: 'upstream connect error or disconnect/reset before headers' },
            byProxy: true,
          }
        : { status: fault.status, body: { ok: false, error: 'internal_error' } };
    }
    return this.carryOut(method, params);
  }

  private carryOut(method: string, params: Record<string, unknown>): Reply {
    const handler = this.methods[method];
    return handler ? handler(params) : this.fail('unknown_method');
  }

  private botTokenRefused(token: string): Reply | undefined {
    if (this.options.token ? token !== this.options.token : !token.startsWith('xoxb-'))
      return this.fail('invalid_auth');
    return undefined;
  }

  /** Only an app-level token opens a Socket Mode connection. */
  private appTokenRefused(token: string): Reply | undefined {
    if (token.startsWith('xoxb-')) return this.fail('not_allowed_token_type');
    if (this.options.appToken ? token !== this.options.appToken : !token.startsWith('xapp-'))
      return this.fail('invalid_auth');
    return undefined;
  }

  /** The socket's URL must be reachable: the emulator must be served (baseUrl). */
  private openConnection(): Reply {
    if (!this.baseUrl) return this.fail('socket_mode_unavailable');
    return this.ok({ url: this.socketMode.open(this.baseUrl) });
  }

  private postMessage(p: Record<string, unknown>): Reply {
    const channel = typeof p.channel === 'string' ? p.channel : '';
    if (!channel) return this.fail('channel_not_found');
    const refused = this.refusals.get(channel);
    if (refused) return this.fail(refused);
    const content = this.content(p);
    if ('error' in content) return content.error;
    const threadTs = p.thread_ts === undefined ? undefined : String(p.thread_ts);
    if (threadTs !== undefined && !this.find(channel, threadTs)) return this.fail('thread_not_found');
    const metadata = readMetadata(p.metadata);
    if (metadata === 'invalid') return this.fail('invalid_metadata_format');
    const message = this.post(channel, threadTs, { ...content, ...(metadata ? { metadata } : {}) });
    return this.ok({ channel, ts: message.ts, message: messageToApi(message) });
  }

  /** Reading a channel's messages needs its history scope, when the emulator is told the scopes. */
  private historyRefused(channel: string): Reply | undefined {
    const isPrivate = this.channelRegistry.get(channel)?.isPrivate === true;
    const scope = isPrivate ? 'groups:history' : 'channels:history';
    if (this.options.scopes && !this.options.scopes.includes(scope))
      return this.fail('missing_scope', { needed: scope });
    return undefined;
  }

  /**
   * A page of `messages` (in the order the method lists them) between `oldest` and `latest` (Slack ts,
   * both excluded unless `inclusive`), `limit` at a time, with a cursor to the next page, as Slack pages
   * conversations.history and conversations.replies. Metadata only with include_all_metadata.
   */
  private page(
    p: Record<string, unknown>,
    messages: EmulatedMessage[],
    defaultLimit: number,
    head?: EmulatedMessage,
  ): Reply {
    const inclusive = p.inclusive === true || p.inclusive === 'true' || p.inclusive === '1';
    const oldest = p.oldest === undefined ? undefined : Number(p.oldest);
    const latest = p.latest === undefined ? undefined : Number(p.latest);
    if ((oldest !== undefined && Number.isNaN(oldest)) || (latest !== undefined && Number.isNaN(latest)))
      return this.fail('invalid_ts_oldest');
    const inWindow = messages.filter((m) => {
      const ts = Number(m.ts);
      if (oldest !== undefined && (inclusive ? ts < oldest : ts <= oldest)) return false;
      if (latest !== undefined && (inclusive ? ts > latest : ts >= latest)) return false;
      return true;
    });
    const slice = cursorSlice(p, head ? [head, ...inWindow] : inWindow, defaultLimit);
    if (!slice) return this.fail('invalid_cursor');
    const withMetadata = p.include_all_metadata === true || p.include_all_metadata === 'true';
    return this.ok({
      messages: slice.items.map((m) => ({
        ...messageToApi(m),
        ...(withMetadata && m.metadata ? { metadata: m.metadata } : {}),
      })),
      has_more: slice.nextCursor !== '',
      response_metadata: { next_cursor: slice.nextCursor },
    });
  }

  /** Posts as the bot, as chat.postMessage does once it has checked its arguments. */
  post(
    channel: string,
    threadTs: string | undefined,
    content: Pick<EmulatedMessage, 'text' | 'blocks' | 'files' | 'metadata'>,
  ): EmulatedMessage {
    const message: EmulatedMessage = {
      channel,
      ts: this.nextTs(),
      ...(threadTs !== undefined ? { threadTs } : {}),
      ...content,
      user: this.botUserId,
    };
    this.messages.push(message);
    return message;
  }

  /** Only channels made through the emulator are known here; see emulatedChannels.ts. */
  private invite(p: Record<string, unknown>): Reply {
    const channel = this.channelRegistry.get(String(p.channel ?? ''));
    if (!channel) return this.fail('channel_not_found');
    const listed = String(p.users ?? '').split(',');
    const users = [...new Set(listed.map((u) => u.trim()))].filter(Boolean);
    if (users.length === 0) return this.fail('no_user');
    if (!users.every((u) => USER_ID.test(u))) return this.fail('user_not_found');
    if (users.includes(this.botUserId)) return this.fail('cant_invite_self');
    if (users.some((u) => channel.members.includes(u))) return this.fail('already_in_channel');
    channel.members.push(...users);
    return this.ok({ channel: channelToApi(channel, this.botUserId) });
  }

  private completeUpload(p: Record<string, unknown>): Reply {
    const entries = Array.isArray(p.files)
      ? (p.files as Array<{ id?: unknown; title?: unknown } | null>)
      : [];
    if (entries.length === 0) return this.invalidArguments(['[ERROR] missing required field: files']);
    const channel = typeof p.channel_id === 'string' && p.channel_id ? p.channel_id : undefined;
    const threadTs = channel && p.thread_ts !== undefined ? String(p.thread_ts) : undefined;
    const files = this.fileStore.complete(
      entries.map((e) => ({ id: String(e?.id), title: typeof e?.title === 'string' ? e.title : undefined })),
      channel,
      threadTs,
    );
    if ('error' in files) return this.fail(files.error);
    if (channel) {
      this.post(channel, threadTs, {
        text: typeof p.initial_comment === 'string' ? p.initial_comment : '',
        blocks: [],
        files: files.map((f) => ({ id: f.id, name: f.filename, title: f.title })),
      });
    }
    return this.ok({ files: files.map((f) => ({ id: f.id, title: f.title })) });
  }

  private update(p: Record<string, unknown>): Reply {
    const refused = this.refusals.get(String(p.channel));
    if (refused) return this.fail(refused);
    const message = this.find(String(p.channel), String(p.ts));
    if (!message) return this.fail('message_not_found');
    const content = this.content(p);
    if ('error' in content) return content.error;
    message.text = content.text;
    message.blocks = content.blocks;
    message.editedTs = this.nextTs();
    return this.ok({
      channel: message.channel,
      ts: message.ts,
      text: message.text,
      message: messageToApi(message),
    });
  }

  private content(p: Record<string, unknown>): { text: string; blocks: Block[] } | { error: Reply } {
    const content = checkMessage(p);
    if ('error' in content) return { error: this.fail(content.error, content.extra) };
    return content;
  }

  private find(channel: string, ts: string): EmulatedMessage | undefined {
    return this.messages.find((m) => m.channel === channel && m.ts === ts);
  }

  private nextTs(): string {
    // Slack's ts: seconds.microseconds, unique and increasing within a channel.
    this.lastTs = Math.max(this.lastTs + 1, Date.now() * 1000);
    return `${Math.floor(this.lastTs / 1_000_000)}.${String(this.lastTs % 1_000_000).padStart(6, '0')}`;
  }

  private ok(body: Record<string, unknown>): Reply {
    return { status: 200, body: { ok: true, ...body } };
  }

  private fail(error: string, extra: Record<string, unknown> = {}): Reply {
    return { status: 200, body: { ok: false, error, ...extra } };
  }

  /** Slack's answer to arguments its schema refuses, one `[ERROR] …` line per problem. */
  private invalidArguments(messages: string[]): Reply {
    return this.fail('invalid_arguments', { response_metadata: { messages } });
  }

  /** Serves `/api/<method>` as Slack does, and the upload URLs files.getUploadURLExternal hands out. */
  listener(): RequestListener {
    return (req, res) => {
      const path = (req.url ?? '').split('?')[0] ?? '';
      if (path.startsWith('/upload/')) {
        void this.receiveUpload(path.slice('/upload/'.length), req, res);
        return;
      }
      const method = path.replace(/^\/api\//, '');
      void readParams(req).then(
        async (params) => {
          await this.waitIfHeld(method, false);
          const reply = this.handle(method, params, req.headers.authorization);
          await this.waitIfHeld(method, true);
          if (reply.lost) {
            req.socket.destroy();
            return;
          }
          res.writeHead(reply.status, {
            'content-type': 'application/json',
            ...(reply.byProxy
              ? {}
              : {
                  'x-oauth-scopes': (this.options.scopes ?? []).join(','),
                  'x-slack-req-id': randomBytes(16).toString('hex'),
                }),
            ...reply.headers,
          });
          res.end(JSON.stringify(reply.body));
        },
        () => {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: false, error: 'invalid_form_data' }));
        },
      );
    };
  }

  /** Answers as Slack's upload URL does: `OK - <bytes>` once the file's bytes are stored. */
  private async receiveUpload(id: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let status = 400;
    let answer = 'Bad Request';
    try {
      const bytes = await readUpload(req);
      [status, answer] = this.fileStore.receive(id, bytes.toString('utf8'))
        ? [200, `OK - ${bytes.length}`]
        : [404, 'Not Found'];
    } catch {
      // A malformed form, or one without a file: the 400 above.
    }
    res.writeHead(status, { 'content-type': 'text/plain' });
    res.end(answer);
  }
}

/**
 * A message's text and blocks as Slack takes them, from any of the places a message can come from
 * (chat.postMessage, a slash command's answer, a response_url), or the error Slack answers instead.
 */
export function checkMessage(
  p: Record<string, unknown>,
): { text: string; blocks: Block[] } | { error: string; extra?: Record<string, unknown> } {
  const blocks = p.blocks === undefined ? [] : p.blocks;
  const text = typeof p.text === 'string' ? p.text : '';
  if (!text && (!Array.isArray(blocks) || blocks.length === 0)) return { error: 'no_text' };
  const problems = validateBlocks(blocks);
  if (problems.length > 0) return { error: 'invalid_blocks', extra: { errors: problems } };
  if (text.length > 40_000) return { error: 'msg_too_long' };
  return { text, blocks: blocks as Block[] };
}

/** Message metadata as chat.postMessage takes it: an event_type and an object as its event_payload. */
function readMetadata(value: unknown): EmulatedMessage['metadata'] | 'invalid' | undefined {
  if (value === undefined) return undefined;
  const m = value as { event_type?: unknown; event_payload?: unknown } | null;
  if (typeof m !== 'object' || m === null || typeof m.event_type !== 'string' || !m.event_type)
    return 'invalid';
  if (typeof m.event_payload !== 'object' || m.event_payload === null || Array.isArray(m.event_payload))
    return 'invalid';
  return { event_type: m.event_type, event_payload: { ...(m.event_payload as Record<string, unknown>) } };
}

/** A message as the Web API (and an interaction payload's `message`) shows it. */
export function messageToApi(m: EmulatedMessage): Record<string, unknown> {
  return {
    type: 'message',
    user: m.user,
    text: m.text,
    blocks: m.blocks,
    ts: m.ts,
    ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
    ...(m.editedTs ? { edited: { user: m.user, ts: m.editedTs } } : {}),
    ...(m.files ? { files: m.files } : {}),
  };
}

export interface RunningEmulator {
  emulator: SlackEmulator;
  /** The value for SLACK_API_URL. */
  apiUrl: string;
  close(): Promise<void>;
}

export async function startSlackEmulator(
  options: SlackEmulatorOptions = {},
  port = 0,
): Promise<RunningEmulator> {
  const emulator = new SlackEmulator(options);
  const server: Server = createServer(emulator.listener());
  server.on('upgrade', (req, socket, head) => emulator.socketMode.upgrade(req, socket, head));
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: actual } = server.address() as AddressInfo;
  emulator.baseUrl = `http://127.0.0.1:${actual}`;
  return {
    emulator,
    apiUrl: `${emulator.baseUrl}/api/`,
    close: () =>
      new Promise((resolve) => {
        emulator.socketMode.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
