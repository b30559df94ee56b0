import { WebAPIHTTPError, WebAPIPlatformError, WebAPIRateLimitedError, WebClient } from '@slack/web-api';
import type { Metrics } from '../observability/metrics.js';
import type { Block } from '../render/blockKit.js';
import { SlackRateLimitedError, SlackRejectedError, SlackUnavailableError } from './errors.js';
import { undiciFetch } from './undiciFetch.js';

// Platform errors that mean "Slack is having trouble", not "your request is wrong".
const TRANSIENT_PLATFORM_ERRORS = new Set([
  'internal_error',
  'fatal_error',
  'service_unavailable',
  'request_timeout',
  'ratelimited',
]);

/** What the POST of a file's bytes to the URL files.getUploadURLExternal gave is called in errors and metrics. */
const UPLOAD_URL = 'files.upload_url';

/** The longest the Web API client waits for Slack's answer to one call. */
export const SLACK_CALL_TIMEOUT_MS = 10_000;

export interface PostedMessage {
  channel: string;
  ts: string;
}

/** Slack message metadata: what a message shows, for finding it again (DESIGN.md principle 7). */
export interface MessageMetadata {
  eventType: string;
  payload: Record<string, string | number>;
}

/** A message as conversations.history and conversations.replies list it, with its metadata. */
export interface ListedMessage {
  ts: string;
  metadata?: MessageMetadata;
  /** The ids of the files it shares, if any. */
  fileIds?: string[];
}

/** One page of messages, and the cursor of the next when there is one. */
export interface MessagePage {
  messages: ListedMessage[];
  nextCursor?: string;
}

/** Where to look: messages after `oldest` (a Slack ts), a page of `limit` at a time. */
export interface MessageQuery {
  channel: string;
  oldest: string;
  limit: number;
  cursor?: string;
}

/**
 * The Slack Web API calls the bot makes, with Slack's failures turned into typed errors. Retries and
 * rate limits are the job queue's business, so the client itself never waits or retries.
 */
export class SlackApi {
  // Private, so every call goes through a method here, where test/slack/manifest.test.ts sees it.
  private readonly client: WebClient;

  constructor(
    token: string,
    apiUrl: string,
    private readonly metrics?: Metrics,
  ) {
    this.client = new WebClient(token, {
      slackApiUrl: apiUrl,
      fetch: undiciFetch,
      retryConfig: { retries: 0 },
      rejectRateLimitedCalls: true,
      timeout: SLACK_CALL_TIMEOUT_MS,
    });
  }

  async postMessage(args: {
    channel: string;
    text: string;
    blocks: Block[];
    threadTs?: string;
    metadata?: MessageMetadata;
  }): Promise<PostedMessage> {
    const result = await this.call('chat.postMessage', () =>
      this.client.chat.postMessage({
        channel: args.channel,
        text: args.text,
        blocks: args.blocks as never,
        ...(args.threadTs ? { thread_ts: args.threadTs } : {}),
        ...(args.metadata
          ? { metadata: { event_type: args.metadata.eventType, event_payload: args.metadata.payload } }
          : {}),
        unfurl_links: false,
        unfurl_media: false,
      }),
    );
    return { channel: String(result.channel), ts: String(result.ts) };
  }

  async update(args: { channel: string; ts: string; text: string; blocks: Block[] }): Promise<void> {
    await this.call('chat.update', () =>
      this.client.chat.update({
        channel: args.channel,
        ts: args.ts,
        text: args.text,
        blocks: args.blocks as never,
      }),
    );
  }

  async postEphemeral(args: {
    channel: string;
    user: string;
    text: string;
    blocks?: Block[];
    threadTs?: string;
  }): Promise<void> {
    await this.call('chat.postEphemeral', () =>
      this.client.chat.postEphemeral({
        channel: args.channel,
        user: args.user,
        text: args.text,
        ...(args.blocks ? { blocks: args.blocks as never } : {}),
        ...(args.threadTs ? { thread_ts: args.threadTs } : {}),
      }),
    );
  }

  async openView(triggerId: string, view: Record<string, unknown>): Promise<void> {
    await this.call('views.open', () =>
      this.client.views.open({ trigger_id: triggerId, view: view as never }),
    );
  }

  /** Creates a public channel; SlackRejectedError('name_taken') when the name is in use. */
  async createChannel(name: string): Promise<{ id: string; name: string }> {
    const result = await this.call('conversations.create', () =>
      this.client.conversations.create({ name, is_private: false }),
    );
    return { id: String(result.channel?.id), name: String(result.channel?.name) };
  }

  /**
   * Which of `names` are public channels the bot made and is in, each name to its channel's id: after a
   * conversations.create whose answer was lost, the channel Slack may have made all the same. One walk
   * through the bot's channels, a page at a time.
   */
  async ownChannelsNamed(names: ReadonlySet<string>): Promise<Map<string, string>> {
    const { userId } = await this.identity();
    const own = new Map<string, string>();
    let cursor: string | undefined;
    do {
      const page = await this.call('users.conversations', () =>
        this.client.users.conversations({
          types: 'public_channel',
          exclude_archived: true,
          limit: 200,
          ...(cursor ? { cursor } : {}),
        }),
      );
      for (const c of page.channels ?? [])
        if (c.id && c.name && names.has(c.name) && c.creator === userId) own.set(c.name, c.id);
      cursor = page.response_metadata?.next_cursor || undefined;
    } while (cursor);
    return own;
  }

  async invite(channel: string, users: string[]): Promise<void> {
    try {
      await this.call('conversations.invite', () =>
        this.client.conversations.invite({ channel, users: users.join(',') }),
      );
    } catch (err) {
      // Inviting someone who is already there (the channel's creator, say) is not a failure.
      if (!(err instanceof SlackRejectedError && err.slackError === 'already_in_channel')) throw err;
    }
  }

  /**
   * Sends a text file's bytes to Slack (files.getUploadURLExternal, then a POST of the bytes to the URL it
   * gives): the file's id, shown nowhere until shareFile. Split from the share so that the id can be
   * recorded before the one call whose lost answer would leave a file shown or not (DESIGN.md principle 7).
   */
  async stageFile(args: { filename: string; content: string }): Promise<string> {
    const reserved = await this.call('files.getUploadURLExternal', () =>
      this.client.files.getUploadURLExternal({
        filename: args.filename,
        length: Buffer.byteLength(args.content, 'utf8'),
      }),
    );
    const fileId = String(reserved.file_id ?? '');
    const sent = await this.call(UPLOAD_URL, () =>
      undiciFetch(String(reserved.upload_url), {
        method: 'POST',
        body: args.content,
        signal: AbortSignal.timeout(SLACK_CALL_TIMEOUT_MS),
      }),
    );
    // The bytes did not arrive: staged again at the next try, under a new id (this one is never shared).
    if (sent.status !== 200) throw new SlackUnavailableError(UPLOAD_URL, `HTTP ${sent.status}`);
    return fileId;
  }

  /** Shares a staged file into a channel or thread under `title` (files.completeUploadExternal). */
  async shareFile(args: {
    fileId: string;
    title: string;
    channel: string;
    threadTs?: string;
  }): Promise<void> {
    await this.call('files.completeUploadExternal', () =>
      this.client.files.completeUploadExternal({
        files: [{ id: args.fileId, title: args.title }],
        channel_id: args.channel,
        ...(args.threadTs ? { thread_ts: args.threadTs } : {}),
      }),
    );
  }

  async userGroups(): Promise<Array<{ id: string; handle: string }>> {
    const result = await this.call('usergroups.list', () => this.client.usergroups.list({}));
    return (result.usergroups ?? []).map((g) => ({ id: String(g.id), handle: String(g.handle) }));
  }

  async userGroupMembers(id: string): Promise<string[]> {
    const result = await this.call('usergroups.users.list', () =>
      this.client.usergroups.users.list({ usergroup: id }),
    );
    return (result.users ?? []).map(String);
  }

  /**
   * A person's name as Slack shows it (users.info): their full name, else their display name, else their
   * username; '' when they have none. SlackRejectedError('user_not_found') for an id Slack does not know.
   */
  async userName(id: string): Promise<string> {
    const result = await this.call('users.info', () => this.client.users.info({ user: id }));
    const user = result.user;
    return user?.real_name || user?.profile?.real_name || user?.profile?.display_name || user?.name || '';
  }

  /** Who the token is, and the scopes Slack says it has (its x-oauth-scopes header). */
  async identity(): Promise<{ userId: string; team: string; scopes: string[] }> {
    const result = await this.call('auth.test', () => this.client.auth.test());
    return {
      userId: String(result.user_id ?? ''),
      team: String(result.team ?? ''),
      scopes: (result.response_metadata?.scopes ?? []).filter(Boolean),
    };
  }

  /** A channel's name, and whether the bot is in it. */
  async channel(id: string): Promise<{ name: string; isMember: boolean }> {
    const result = await this.call('conversations.info', () =>
      this.client.conversations.info({ channel: id }),
    );
    return { name: String(result.channel?.name ?? id), isMember: result.channel?.is_member === true };
  }

  /** Top-level messages of a channel after `oldest`, newest first, with their metadata. */
  async history(query: MessageQuery): Promise<MessagePage> {
    const result = await this.call('conversations.history', () =>
      this.client.conversations.history(pageArgs(query)),
    );
    return toPage(result);
  }

  /** A thread's messages after `oldest`, oldest first (the thread's first message too), with their metadata. */
  async replies(query: MessageQuery & { threadTs: string }): Promise<MessagePage> {
    const result = await this.call('conversations.replies', () =>
      this.client.conversations.replies({ ...pageArgs(query), ts: query.threadTs }),
    );
    return toPage(result);
  }

  private async call<T>(method: string, run: () => Promise<T>): Promise<T> {
    try {
      const result = await run();
      this.metrics?.slackCalls.inc({ method, outcome: 'ok' });
      return result;
    } catch (err) {
      const mapped = mapError(method, err);
      const outcome =
        mapped instanceof SlackRateLimitedError
          ? 'rate_limited'
          : mapped instanceof SlackRejectedError
            ? 'rejected'
            : 'unavailable';
      this.metrics?.slackCalls.inc({ method, outcome });
      throw mapped;
    }
  }
}

function toPage(result: {
  messages?: Array<{
    ts?: string;
    metadata?: { event_type?: string; event_payload?: unknown };
    files?: Array<{ id?: string }>;
  }>;
  response_metadata?: { next_cursor?: string };
}): MessagePage {
  return {
    messages: (result.messages ?? []).map((m) => ({
      ts: String(m.ts),
      ...(m.metadata?.event_type
        ? {
            metadata: {
              eventType: m.metadata.event_type,
              payload: (m.metadata.event_payload ?? {}) as Record<string, string | number>,
            },
          }
        : {}),
      ...(m.files?.length ? { fileIds: m.files.map((f) => String(f.id)) } : {}),
    })),
    ...(result.response_metadata?.next_cursor ? { nextCursor: result.response_metadata.next_cursor } : {}),
  };
}

/** One page of a history or replies read, metadata included. */
function pageArgs(query: MessageQuery) {
  return {
    channel: query.channel,
    oldest: query.oldest,
    limit: query.limit,
    include_all_metadata: true,
    ...(query.cursor ? { cursor: query.cursor } : {}),
  };
}

function mapError(method: string, err: unknown): Error {
  if (err instanceof WebAPIRateLimitedError)
    return new SlackRateLimitedError(method, err.retryAfter * 1000, true);
  if (err instanceof WebAPIPlatformError) {
    const code = err.data.error;
    // Slack's own answer, except request_timeout: Slack stopped waiting for itself, and may still act.
    if (TRANSIENT_PLATFORM_ERRORS.has(code))
      return new SlackUnavailableError(method, code, code !== 'request_timeout');
    return new SlackRejectedError(method, code, (err.data as { errors?: unknown }).errors);
  }
  if (err instanceof WebAPIHTTPError) {
    if (err.statusCode >= 500 || err.statusCode === 408)
      // A 500 or 503 that Slack made (its request id on it) is its answer. A gateway's 502 or 504, a 408,
      // or a 503 a proxy made (Envoy's for a connection reset upstream, which may come after Slack took
      // the call) says nothing of what Slack did.
      return new SlackUnavailableError(
        method,
        `HTTP ${err.statusCode}`,
        (err.statusCode === 500 || err.statusCode === 503) && err.headers['x-slack-req-id'] !== undefined,
      );
    return new SlackRejectedError(method, `http_${err.statusCode}`);
  }
  return new SlackUnavailableError(method, (err as Error).message ?? String(err));
}

/** Checks an app-level token the way Socket Mode uses it: asks for a connection URL, and opens nothing. */
export async function checkAppToken(appToken: string, apiUrl: string): Promise<void> {
  const client = new WebClient(appToken, {
    slackApiUrl: apiUrl,
    fetch: undiciFetch,
    retryConfig: { retries: 0 },
    timeout: SLACK_CALL_TIMEOUT_MS,
  });
  try {
    await client.apps.connections.open();
  } catch (err) {
    throw mapError('apps.connections.open', err);
  }
}
