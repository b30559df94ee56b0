import { createServer, type IncomingMessage, type RequestListener, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Block, validateBlocks } from '../render/blockKit.js';

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
}

export interface RecordedCall {
  method: string;
  params: Record<string, unknown>;
  status: number;
  ok: boolean;
  error?: string;
  at: number;
}

export type Fault =
  | { status: 429; retryAfterSeconds: number }
  | { status: 500 | 502 | 503 }
  | { error: string };

interface Reply {
  status: number;
  headers?: Record<string, string>;
  body: Record<string, unknown>;
}

export interface SlackEmulatorOptions {
  /** The only bot token accepted; any xoxb- token when unset. */
  token?: string;
  teamId?: string;
  botUserId?: string;
}

type Method = (params: Record<string, unknown>) => Reply;

export class SlackEmulator {
  readonly calls: RecordedCall[] = [];
  private readonly messages: EmulatedMessage[] = [];
  private readonly faults: Array<{ method: string; fault: Fault }> = [];
  private readonly holds: Array<{ method: string; arrived: () => void; released: Promise<void> }> = [];
  private lastTs = 0;
  private readonly teamId: string;
  private readonly botUserId: string;
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
    'chat.postMessage': (p) => this.postMessage(p),
    'chat.update': (p) => this.update(p),
    'chat.postEphemeral': (p) => {
      if (!p.channel || !p.user) return this.fail('invalid_arguments');
      return this.ok({ message_ts: this.nextTs() });
    },
    'conversations.replies': (p) => {
      const root = this.find(String(p.channel), String(p.ts));
      if (!root) return this.fail('thread_not_found');
      return this.ok({
        messages: [root, ...this.threadOf(root.channel, root.ts)].map(toApi),
        has_more: false,
      });
    },
  };

  constructor(private readonly options: SlackEmulatorOptions = {}) {
    this.teamId = options.teamId ?? 'T0SANDBOX';
    this.botUserId = options.botUserId ?? 'U0INCIDENTBOT';
  }

  /** The next `times` calls of `method` fail with `fault` before reaching the method. */
  failNext(method: string, fault: Fault, times = 1): void {
    for (let i = 0; i < times; i++) this.faults.push({ method, fault });
  }

  /**
   * The next call of `method` waits, unanswered, until `release()`: for tests that need something to
   * happen while a call is in flight. `reached` resolves when the call has arrived.
   */
  hold(method: string): { reached: Promise<void>; release: () => void } {
    let arrived!: () => void;
    let release!: () => void;
    const reached = new Promise<void>((resolve) => {
      arrived = resolve;
    });
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    this.holds.push({ method, arrived, released });
    return { reached, release };
  }

  private async waitIfHeld(method: string): Promise<void> {
    const index = this.holds.findIndex((h) => h.method === method);
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

  allMessages(): EmulatedMessage[] {
    return [...this.messages];
  }

  callsOf(method: string): RecordedCall[] {
    return this.calls.filter((c) => c.method === method);
  }

  handle(method: string, params: Record<string, unknown>, authorization: string | undefined): Reply {
    const reply = this.dispatch(method, params, authorization);
    this.calls.push({
      method,
      params,
      status: reply.status,
      ok: reply.body.ok === true,
      ...(typeof reply.body.error === 'string' ? { error: reply.body.error } : {}),
      at: Date.now(),
    });
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
    if (this.options.token ? token !== this.options.token : !token.startsWith('xoxb-'))
      return this.fail('invalid_auth');
    const faultIndex = this.faults.findIndex((f) => f.method === method);
    if (faultIndex >= 0) {
      const { fault } = this.faults.splice(faultIndex, 1)[0]!;
      if ('error' in fault) return this.fail(fault.error);
      if (fault.status === 429) {
        return {
          status: 429,
          headers: { 'retry-after': String(fault.retryAfterSeconds) },
          body: { ok: false, error: 'ratelimited' },
        };
      }
      return { status: fault.status, body: { ok: false, error: 'internal_error' } };
    }
    const handler = this.methods[method];
    return handler ? handler(params) : this.fail('unknown_method');
  }

  private postMessage(p: Record<string, unknown>): Reply {
    const channel = typeof p.channel === 'string' ? p.channel : '';
    if (!channel) return this.fail('channel_not_found');
    const content = this.content(p);
    if ('error' in content) return content.error;
    if (p.thread_ts !== undefined && !this.find(channel, String(p.thread_ts)))
      return this.fail('thread_not_found');
    const message: EmulatedMessage = {
      channel,
      ts: this.nextTs(),
      ...(p.thread_ts !== undefined ? { threadTs: String(p.thread_ts) } : {}),
      ...content,
      user: this.botUserId,
    };
    this.messages.push(message);
    return this.ok({ channel, ts: message.ts, message: toApi(message) });
  }

  private update(p: Record<string, unknown>): Reply {
    const message = this.find(String(p.channel), String(p.ts));
    if (!message) return this.fail('message_not_found');
    const content = this.content(p);
    if ('error' in content) return content.error;
    message.text = content.text;
    message.blocks = content.blocks;
    message.editedTs = this.nextTs();
    return this.ok({ channel: message.channel, ts: message.ts, text: message.text, message: toApi(message) });
  }

  private content(p: Record<string, unknown>): { text: string; blocks: Block[] } | { error: Reply } {
    const blocks = p.blocks === undefined ? [] : p.blocks;
    const text = typeof p.text === 'string' ? p.text : '';
    if (!text && (!Array.isArray(blocks) || blocks.length === 0)) return { error: this.fail('no_text') };
    const problems = validateBlocks(blocks);
    if (problems.length > 0) return { error: this.fail('invalid_blocks', { errors: problems }) };
    if (text.length > 40_000) return { error: this.fail('msg_too_long') };
    return { text, blocks: blocks as Block[] };
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

  /** Serves `/api/<method>` as Slack does. */
  listener(): RequestListener {
    return (req, res) => {
      const method = (req.url ?? '').replace(/^\/api\//, '').split('?')[0] ?? '';
      void readParams(req).then(
        async (params) => {
          await this.waitIfHeld(method);
          const reply = this.handle(method, params, req.headers.authorization);
          res.writeHead(reply.status, { 'content-type': 'application/json', ...reply.headers });
          res.end(JSON.stringify(reply.body));
        },
        () => {
          res.writeHead(400, { 'content-type': 'application/json' });
          res.end(JSON.stringify({ ok: false, error: 'invalid_form_data' }));
        },
      );
    };
  }
}

function toApi(m: EmulatedMessage): Record<string, unknown> {
  return {
    type: 'message',
    user: m.user,
    text: m.text,
    blocks: m.blocks,
    ts: m.ts,
    ...(m.threadTs ? { thread_ts: m.threadTs } : {}),
    ...(m.editedTs ? { edited: { user: m.user, ts: m.editedTs } } : {}),
  };
}

async function readParams(req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks).toString('utf8');
  if ((req.headers['content-type'] ?? '').includes('application/json')) return body ? JSON.parse(body) : {};
  const params: Record<string, unknown> = {};
  for (const [key, value] of new URLSearchParams(body)) {
    // The Web API client sends structured arguments (blocks, attachments) as JSON strings.
    params[key] = /^[[{]/.test(value) ? JSON.parse(value) : value;
  }
  return params;
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
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { port: actual } = server.address() as AddressInfo;
  return {
    emulator,
    apiUrl: `http://127.0.0.1:${actual}/api/`,
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
