import { once } from 'node:events';
import { request } from 'node:http';
import { connect } from 'node:net';
import fc from 'fast-check';
import type pg from 'pg';
import { expect } from 'vitest';
import type { RecordedCall } from '../../src/sandbox/slackEmulator.js';
import { slackSignatureHeaders } from '../../src/sandbox/slackSigning.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import {
  blockActionsPayload,
  type CommandOptions,
  SRE,
  slashCommandFields,
  viewSubmissionPayload,
} from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

/**
 * The hostile-input suite's harness (issue 9): every input is sent to the real bot over HTTP and held to one
 * contract: an answer (no reset, no hang), no 5xx, no "Something went wrong", no live mention or link from the
 * input in anything shown back, and, when refused, no row written and nothing posted to Slack.
 */

/** Fixed, so a failure seen once is seen again; numRuns keeps the suite fast. */
export const FUZZ_SEED = 20_261_130;
export function fuzz(numRuns: number): fc.Parameters<unknown> {
  // Shrinking replays hundreds of requests against the live bot; the fragments are readable as they are.
  return { seed: FUZZ_SEED, numRuns, endOnFailure: true };
}

export const TIMEOUT_MS = 5000;
export const FORM = 'application/x-www-form-urlencoded';
export const JSON_TYPE = 'application/json';
export const nowSeconds = () => Math.floor(Date.now() / 1000);

// ---------------------------------------------------------------------------------------------------------
// Sending

export interface Answer {
  status: number;
  body: string;
  headers: Headers;
  /** The body parsed, when it is JSON. */
  json?: unknown;
  /** Set instead of a status when no answer came: a reset, a refused connection or the timeout. */
  failure?: string;
}

export interface SendInit {
  method?: string;
  headers?: Record<string, string>;
  /** A string or bytes, or chunks streamed with chunked transfer encoding. */
  body?: string | Buffer | Iterable<Buffer> | AsyncIterable<Buffer>;
}

/**
 * Any request, on a connection of its own (a hostile request may leave its connection unusable, see
 * `reuseAfterOversize`), with a deadline. A missing answer is returned as `failure`, for the contract to name.
 */
export function send(url: string, init: SendInit = {}): Promise<Answer> {
  return new Promise<Answer>((resolve) => {
    const failed = (err: Error) =>
      resolve({ status: 0, body: '', headers: new Headers(), failure: `${err.name}: ${err.message}` });
    let req: ReturnType<typeof request>;
    try {
      const { body } = init;
      const length =
        typeof body === 'string' ? Buffer.byteLength(body) : Buffer.isBuffer(body) ? body.length : undefined;
      req = request(url, {
        method: init.method ?? 'GET',
        // A length for every fixed body: Node sends a DELETE's or an OPTIONS' body bare without one.
        headers: { ...(length !== undefined ? { 'content-length': String(length) } : {}), ...init.headers },
        agent: false,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      });
    } catch (err) {
      // Refused by Node's client before sending (a header with a NUL in it): nothing reached the bot.
      return failed(err as Error);
    }
    req.on('error', failed);
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('error', failed);
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try {
          json = body ? JSON.parse(body) : undefined;
        } catch {
          json = undefined;
        }
        const headers = new Headers();
        for (const [name, value] of Object.entries(res.headers))
          if (value !== undefined) headers.set(name, Array.isArray(value) ? value.join(', ') : value);
        resolve({ status: res.statusCode ?? 0, body, headers, json });
        // Never reused: a body the bot refused unread must not keep the connection, or its shutdown, waiting.
        req.destroy();
      });
    });
    const { body } = init;
    if (body === undefined || typeof body === 'string' || Buffer.isBuffer(body)) req.end(body);
    else
      void (async () => {
        try {
          for await (const chunk of body) if (!req.write(chunk)) await once(req, 'drain');
          req.end();
        } catch {
          // The bot answered (and closed) before taking it all: the answer is what counts.
        }
      })();
  });
}

/**
 * Sends more than `limit` bytes (chunked: no length to refuse up front) and then, on the same keep-alive
 * connection, a GET /healthz, as Alertmanager's and Slack's HTTP clients would. After its 413 the bot must
 * answer that request or close the connection; a connection left open but never read again hangs the next
 * request sent on it until the client gives up.
 */
export async function reuseAfterOversize(
  baseUrl: string,
  path: string,
  headers: Record<string, string>,
  limit: number,
): Promise<{ first: string; then: 'answered' | 'closed' | 'hung' }> {
  const { hostname, port } = new URL(baseUrl);
  const socket = connect(Number(port), hostname);
  await once(socket, 'connect');
  let received = '';
  let closed = false;
  socket.on('data', (data: Buffer) => {
    received += data.toString('latin1');
  });
  socket.on('close', () => {
    closed = true;
  });
  socket.on('error', () => {});
  const head = Object.entries({ host: hostname, ...headers, 'transfer-encoding': 'chunked' })
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.write(`POST ${path} HTTP/1.1\r\n${head}\r\n`);
  const chunk = Buffer.alloc(64 * 1024, 'x');
  for (let sent = 0; sent <= limit && !closed && !received; sent += chunk.length) {
    // All three writes, whatever each returns: a chunk cut short would be a parse error, not a big body.
    socket.write(`${chunk.length.toString(16)}\r\n`);
    socket.write(chunk);
    if (!socket.write('\r\n')) await Promise.race([once(socket, 'drain'), once(socket, 'close')]);
  }
  await waitFor(
    () => received.includes('\r\n\r\n') || closed,
    TIMEOUT_MS,
    'the answer to the oversized body',
  ).catch(() => undefined);
  const first = received.split('\r\n')[0] ?? '';
  if (!closed) socket.write(`0\r\n\r\nGET /healthz HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`);
  const then = await waitFor(
    () => ((received.match(/HTTP\/1\.1 /g) ?? []).length > 1 ? 'answered' : closed ? 'closed' : false),
    TIMEOUT_MS,
    'an answer or a close',
  ).catch(() => 'hung' as const);
  socket.destroy();
  return { first, then };
}

export interface SlackSendOptions {
  method?: string;
  contentType?: string | null;
  /** Signed with this timestamp (seconds, or any text); now when unset. */
  timestamp?: number | string;
  /** Sign with another secret, or not at all. */
  secret?: string | null;
  /** Headers set after signing: they win. */
  headers?: Record<string, string>;
}

/** POST /slack/events (or another method), signed with the v0 scheme unless told otherwise. */
export function sendSlack(bot: TestBot, body: string, options: SlackSendOptions = {}): Promise<Answer> {
  const method = options.method ?? 'POST';
  const secret = options.secret === undefined ? TEST_SECRETS.signingSecret : options.secret;
  const signed =
    secret === null ? {} : slackSignatureHeaders(secret, body, (options.timestamp ?? nowSeconds()) as number);
  const contentType = options.contentType === undefined ? FORM : options.contentType;
  return send(`${bot.url}/slack/events`, {
    method,
    headers: { ...(contentType ? { 'content-type': contentType } : {}), ...signed, ...options.headers },
    ...(method === 'GET' || method === 'HEAD' ? {} : { body }),
  });
}

/** An interactivity body: the payload's JSON in the `payload` form field. */
export const payloadForm = (payload: unknown) =>
  `payload=${encodeURIComponent(typeof payload === 'string' ? payload : JSON.stringify(payload))}`;

/**
 * A slash command as Slack sends it. `rawText`, when given, goes into the form as is (already
 * percent-encoded): how bytes that are not UTF-8 reach the bot.
 */
export function sendCommand(
  bot: TestBot,
  command: string,
  text: string,
  options: CommandOptions & { rawText?: string } = {},
): Promise<Answer> {
  const fields = slashCommandFields(text, { ...options, command });
  let body = new URLSearchParams(fields).toString();
  if (options.rawText !== undefined) {
    const encoded = `text=${new URLSearchParams({ text }).toString().slice(5)}`;
    if (!body.includes(encoded)) throw new Error(`no ${encoded} in ${body}`);
    body = body.replace(encoded, `text=${options.rawText}`);
  }
  return sendSlack(bot, body);
}

/** A channel no incident lives in: a command there names its incident or has none. */
export const NO_INCIDENT_CHANNEL = 'C0HOSTILE';

export interface SlashProbe extends CommandOptions {
  label?: string;
  outcome?: HostileInput['outcome'];
  generated?: boolean;
  rawText?: string;
}

/** A slash command held to the contract; its answer is always an HTTP 200 with an ephemeral message. */
export async function slashProbe(
  hostile: Hostile,
  command: string,
  text: string,
  options: SlashProbe = {},
): Promise<Outcome> {
  const { label, outcome, generated, ...sendOptions } = options;
  const user = options.user ?? freshUser();
  const answer = await hostile.probe({
    surface: command,
    label: label ?? JSON.stringify(text).slice(0, 200),
    send: () =>
      sendCommand(hostile.bot, command, text, { channel: NO_INCIDENT_CHANNEL, ...sendOptions, user }),
    user,
    carried: [text],
    status: 200,
    ...(outcome ? { outcome } : {}),
    ...(generated ? { generated } : {}),
  });
  const json = answer.json as { response_type?: unknown } | undefined;
  if (answer.body) expect(json?.response_type, `${command} ${label ?? text.slice(0, 100)}`).toBe('ephemeral');
  return answer;
}

type Payload = Record<string, unknown>;

export interface InteractionProbe {
  label?: string;
  generated?: boolean;
  status?: number;
  outcome?: HostileInput['outcome'];
  user?: string;
  /** Changes the payload Slack would send into the one to send. */
  edit?: (payload: Payload) => Payload;
  check?: HostileInput['check'];
}

function interactionInput(
  bot: TestBot,
  surface: string,
  payload: Payload,
  carried: string[],
  options: InteractionProbe & { user: string },
  afterAck: boolean,
): HostileInput {
  const sent = JSON.stringify(options.edit ? options.edit(payload) : payload);
  return {
    surface,
    label: options.label ?? sent.slice(0, 300),
    send: () => sendSlack(bot, payloadForm(sent)),
    carried: [...carried, sent],
    afterAck,
    user: options.user,
    ...(options.status !== undefined ? { status: options.status } : {}),
    ...(options.outcome ? { outcome: options.outcome } : {}),
    ...(options.generated ? { generated: true } : {}),
    ...(options.check ? { check: options.check } : {}),
  };
}

export type ClickOptions = InteractionProbe & { channel?: string | null; messageTs?: string };

/**
 * A button click, acknowledged before its listener works. `value` undefined leaves the value out;
 * `channel: null` leaves out where the click came from (channel and container).
 */
export function clickInput(
  bot: TestBot,
  actionId: string,
  value: string | undefined,
  options: ClickOptions = {},
): HostileInput {
  const { channel, messageTs } = options;
  const user = options.user ?? freshUser();
  const payload = blockActionsPayload(actionId, value ?? '', {
    user,
    ...(channel ? { channel } : {}),
    ...(messageTs ? { messageTs } : {}),
  });
  if (value === undefined) delete (payload.actions as Payload[])[0]!.value;
  if (channel === null) {
    delete payload.channel;
    delete payload.container;
  }
  return interactionInput(
    bot,
    actionId,
    payload,
    value === undefined ? [] : [value],
    { ...options, user },
    true,
  );
}

export const clickProbe = (
  hostile: Hostile,
  actionId: string,
  value: string | undefined,
  options: ClickOptions = {},
): Promise<Outcome> => hostile.probe(clickInput(hostile.bot, actionId, value, options));

export type ViewField = string | { selected: string };

/** A modal's submission, answered once its listener is done. */
export function viewInput(
  bot: TestBot,
  callbackId: string,
  privateMetadata: string,
  fields: Record<string, ViewField>,
  options: InteractionProbe = {},
): HostileInput {
  const user = options.user ?? freshUser();
  const payload = viewSubmissionPayload(
    { callback_id: callbackId, private_metadata: privateMetadata },
    fields,
    user,
  );
  const carried = [
    privateMetadata,
    ...Object.values(fields).map((f) => (typeof f === 'string' ? f : f.selected)),
  ];
  return interactionInput(bot, `view ${callbackId}`, payload, carried, { ...options, user }, false);
}

export const viewProbe = (
  hostile: Hostile,
  callbackId: string,
  privateMetadata: string,
  fields: Record<string, ViewField>,
  options: InteractionProbe = {},
): Promise<Outcome> => hostile.probe(viewInput(hostile.bot, callbackId, privateMetadata, fields, options));

/** A check: a click that got past the envelope check was refused in words, to the clicker (its listener ran). */
export function told(outcome: Outcome): void {
  if (outcome.status === 200)
    expect(
      outcome.shown.filter((text) => text.trim() !== '').length,
      'the clicker is told why',
    ).toBeGreaterThan(0);
}

/** Fixed-seed samples of an arbitrary: for inputs sent in batches, where one fast-check run per request is too slow. */
export const samples = <T>(arbitrary: fc.Arbitrary<T>, count: number): T[] =>
  fc.sample(arbitrary, { seed: FUZZ_SEED, numRuns: count });

/** Batches of `size`, for `probeAll`. */
export const batches = <T>(items: readonly T[], size = 40): T[][] =>
  Array.from({ length: Math.ceil(items.length / size) }, (_, i) => items.slice(i * size, (i + 1) * size));

/** Where a real incident's or action request's buttons are: its message, once posted. */
export interface PostedMessage {
  id: number;
  channel: string;
  ts: string;
}

/** A channel of no request and no incident, where forged clicks claim to come from. */
export const ELSEWHERE = 'C0ELSEWHERE';

/** Ways a click can claim to come from `message` (a click names it four times) without coming from it. */
export function forgedOrigins(message: PostedMessage): Array<[string, ClickOptions]> {
  const here = { channel: message.channel, messageTs: message.ts };
  return [
    ['from another channel', { channel: ELSEWHERE, messageTs: message.ts }],
    ['from another message', { channel: message.channel, messageTs: '1.000001' }],
    ['from nowhere', { channel: null }],
    ['with channel.id elsewhere', { ...here, edit: (p) => ({ ...p, channel: { id: ELSEWHERE } }) }],
    [
      'with the container elsewhere',
      {
        ...here,
        edit: (p) => ({
          ...p,
          container: { type: 'message', message_ts: message.ts, channel_id: ELSEWHERE },
        }),
      },
    ],
    ['with message.ts elsewhere', { ...here, edit: (p) => ({ ...p, message: { ts: '1.000001' } }) }],
    ['without the message', { ...here, edit: (p) => ({ ...p, message: undefined }) }],
    ['without the container', { ...here, edit: (p) => ({ ...p, container: undefined }) }],
  ];
}

/** Set-up for the buttons and forms: a real incident, declared and posted, to aim hostile clicks at. */
export async function declareIncident(bot: TestBot, channel: string): Promise<PostedMessage> {
  const answer = await sendCommand(bot, '/incident', 'declare P2 Checkout is failing for EU customers', {
    user: SRE.alice,
    channel,
  });
  const id = Number(/Declared INC-(\d+)/.exec(replyText(answer))?.[1]);
  if (!id) throw new Error(`not declared: ${answer.body}`);
  return postedMessage(bot, 'SELECT channel_id, root_ts AS ts FROM incidents WHERE id = $1', id);
}

/** Set-up for Approve and Reject: a real action request, posted for approval. */
export async function requestAction(bot: TestBot, text: string, channel: string): Promise<PostedMessage> {
  const answer = await sendCommand(bot, '/action', text, { user: SRE.alice, channel });
  const id = Number(/Requested ACT-(\d+)/.exec(replyText(answer))?.[1]);
  if (!id) throw new Error(`not requested: ${answer.body}`);
  return postedMessage(bot, 'SELECT channel_id, message_ts AS ts FROM action_requests WHERE id = $1', id);
}

async function postedMessage(bot: TestBot, sql: string, id: number): Promise<PostedMessage> {
  return waitFor(
    async () => {
      const { rows } = await bot.app.pool.query<{ channel_id: string; ts: string | null }>(sql, [id]);
      return rows[0]?.ts ? { id, channel: rows[0].channel_id, ts: rows[0].ts } : undefined;
    },
    20_000,
    `the message of ${id}`,
  );
}

/** The text and blocks of a slash command's answer, as one string. */
export function replyText(answer: Answer): string {
  const json = answer.json as { text?: unknown; blocks?: unknown } | undefined;
  return [
    typeof json?.text === 'string' ? json.text : '',
    json?.blocks ? JSON.stringify(json.blocks) : '',
  ].join('\n');
}

export async function expectAlive(bot: TestBot, after = 'the inputs'): Promise<void> {
  const answer = await send(`${bot.url}/healthz`);
  expect(answer.failure, `GET /healthz after ${after}`).toBeUndefined();
  expect(answer.status, `GET /healthz after ${after}`).toBe(200);
}

// ---------------------------------------------------------------------------------------------------------
// What an answer must not show

// Slack's own escaping of command text, which the bot undoes once.
export const unescapeSlack = (text: string) =>
  text.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

/** The mentions and links an input carries, as Slack would render them if shown back unescaped. */
export function liveTokens(input: string): string[] {
  const tokens = new Set<string>();
  for (const variant of [input, unescapeSlack(input)])
    for (const [token] of variant.matchAll(/<[^<>]*>/g))
      if (/^<(?:[!@#]|https?:|mailto:)/i.test(token) || token.includes('|')) tokens.add(token);
  return [...tokens];
}

/** Every string inside a JSON value (texts, blocks, errors), so that JSON escaping hides nothing. */
export function stringsOf(value: unknown, out: string[] = []): string[] {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const item of value) stringsOf(item, out);
  else if (value && typeof value === 'object') for (const item of Object.values(value)) stringsOf(item, out);
  return out;
}

/** The input's live tokens that come back in any of `shown`. */
export function liveEchoes(inputs: readonly string[], shown: readonly string[]): string[] {
  return inputs.flatMap(liveTokens).filter((token) => shown.some((text) => text.includes(token)));
}

// ---------------------------------------------------------------------------------------------------------
// What the bot wrote

/** Web API methods that show something to others or change the workspace; ephemeral refusals are not here. */
export const SLACK_WRITES = new Set([
  'chat.postMessage',
  'chat.update',
  'chat.delete',
  'files.getUploadURLExternal',
  'files.completeUploadExternal',
  'conversations.create',
  'conversations.invite',
  'views.open',
  'views.update',
  'views.push',
]);

const tableLists = new WeakMap<pg.Pool, Promise<string[]>>();

/** Every table of the bot's (public schema, migration bookkeeping aside), with its row count and a hash of its rows. */
export async function tableDigest(pool: pg.Pool): Promise<Record<string, string>> {
  let tables = tableLists.get(pool);
  if (!tables) {
    tables = pool
      .query<{ name: string }>(
        `SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname NOT LIKE '%migration%'
          ORDER BY 1`,
      )
      .then(({ rows }) => rows.map((r) => r.name));
    tableLists.set(pool, tables);
  }
  const names = await tables;
  // A hash as well as the count: an update (a vote flipping a status) changes no count.
  const sql = names
    .map(
      (name) =>
        `SELECT '${name}' AS name, count(*)::int AS n,
                md5(coalesce(string_agg(x::text, E'\\n' ORDER BY x::text), '')) AS h FROM "${name}" x`,
    )
    .join(' UNION ALL ');
  const { rows } = await pool.query<{ name: string; n: number; h: string }>(sql);
  return Object.fromEntries(rows.map((r) => [r.name, `${r.n} rows, ${r.h.slice(0, 8)}`]));
}

// ---------------------------------------------------------------------------------------------------------
// The contract

export interface HostileInput {
  /** What the count is reported under: a command, a listener, a route. */
  surface: string;
  /** Names the input in a failure. */
  label: string;
  send: () => Promise<Answer>;
  /** Texts the input carried: none of their live mentions or links may come back. */
  carried: readonly string[];
  /**
   * Refused (the default): nothing written, nothing posted. Accepted: the bot may store and post it.
   * By status: refused when the answer is a 4xx.
   */
  outcome?: 'refused' | 'accepted' | 'by-status';
  /** The expected HTTP status, when the surface has one for this input. */
  status?: number;
  /** The listener works on after its HTTP answer (a click): wait until it is done. */
  afterAck?: boolean;
  /** The person sending it, when no other input of a batch has them: their ephemeral messages are its answers. */
  user?: string;
  /** What else its answer must be, checked before a batch's writes, so that a failure names the input. */
  check?: (outcome: Outcome) => void;
  generated?: boolean;
}

export interface Outcome extends Answer {
  /** What the person was shown: the answer's texts and the ephemeral messages posted to them. */
  shown: string[];
  /** The Slack calls in SLACK_WRITES the input led to (a lone probe's only: a batch's are the batch's). */
  posted: RecordedCall[];
}

/** One bot's hostile inputs: sends each, holds it to the contract, and counts them per surface. */
export class Hostile {
  readonly tally = new Map<string, { table: number; generated: number }>();
  private start: { digest: Record<string, string>; calls: number } | undefined;

  constructor(
    readonly bot: TestBot,
    readonly file: string,
  ) {}

  /** A file's bot, with its set-up done before the inputs begin. */
  static async start(
    file: string,
    options: { configYaml?: string; setUp?: (bot: TestBot) => Promise<void> } = {},
  ): Promise<Hostile> {
    const bot = await startTestBot(options.configYaml ? { configYaml: options.configYaml } : {});
    try {
      await options.setUp?.(bot);
      const hostile = new Hostile(bot, file);
      await hostile.begin();
      return hostile;
    } catch (err) {
      await bot.stop();
      throw err;
    }
  }

  async stop(): Promise<void> {
    this.report();
    await this.bot.stop();
  }

  /** A slash command's text that must be refused with usage. */
  refusedCommand(command: string) {
    return async (text: string, label?: string) => {
      const answer = await slashProbe(this, command, text, label ? { label } : {});
      expect(replyText(answer), label ?? text.slice(0, 200)).toMatch(/Usage:/);
      return answer;
    };
  }

  /** Marks where the inputs begin (after any set-up), for `expectNothingWrittenSinceBegin`. */
  async begin(): Promise<void> {
    await this.settle(true);
    this.start = {
      digest: await tableDigest(this.bot.app.pool),
      calls: this.bot.slack.emulator.calls.length,
    };
  }

  async probe(input: HostileInput): Promise<Outcome> {
    return (await this.probeAll([input]))[0]!;
  }

  /**
   * Sends the inputs `concurrency` at a time, waits once for the bot to be done with all of them, then holds
   * each to the contract: its own answer and the ephemeral messages to its user (inputs with a `user` of
   * their own), and the database and Slack as a whole for the batch when every input in it was refused.
   */
  async probeAll(inputs: readonly HostileInput[], concurrency = 8): Promise<Outcome[]> {
    const { pool } = this.bot.app;
    const before = inputs.some((i) => i.outcome === 'accepted') ? undefined : await tableDigest(pool);
    const mark = this.bot.slack.emulator.calls.length;
    const answers: Answer[] = new Array(inputs.length);
    let next = 0;
    const sender = async () => {
      for (let i = next++; i < inputs.length; i = next++) answers[i] = await inputs[i]!.send();
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, inputs.length) }, sender));

    const where = (i: number) => `${inputs[i]!.surface}: ${inputs[i]!.label}`;
    inputs.forEach((input, i) => {
      const count = this.tally.get(input.surface) ?? { table: 0, generated: 0 };
      count[input.generated ? 'generated' : 'table']++;
      this.tally.set(input.surface, count);
      const answer = answers[i]!;
      expect(answer.failure, `${where(i)}: no answer`).toBeUndefined();
      expect(answer.status, `${where(i)}: ${answer.body.slice(0, 300)}`).toBeLessThan(500);
      if (input.status !== undefined)
        expect(answer.status, `${where(i)}: ${answer.body.slice(0, 300)}`).toBe(input.status);
    });
    // A listener runs on after its acknowledgement only when the request got past the envelope check.
    await this.settle(inputs.some((input, i) => input.afterAck && answers[i]!.status < 300));

    const calls = this.bot.slack.emulator.calls.slice(mark);
    const posted = calls.filter((c) => SLACK_WRITES.has(c.method));
    const postedText = posted.flatMap((c) => stringsOf(c.params));
    const ephemerals = calls.filter((c) => c.method === 'chat.postEphemeral');
    const single = inputs.length === 1;
    const users = new Set(inputs.map((input) => input.user).filter(Boolean));
    const outcomes = inputs.map((input, i): Outcome & { refused: boolean } => {
      const answer = answers[i]!;
      const own = ephemerals.filter(
        (c) => single || (input.user !== undefined && c.params.user === input.user),
      );
      const shown = [
        ...(answer.json === undefined ? [answer.body] : stringsOf(answer.json)),
        ...own.flatMap((c) => stringsOf(c.params)),
      ];
      expect(shown.join('\n'), where(i)).not.toContain('Something went wrong on our side');
      const refused =
        input.outcome === 'by-status' ? answer.status >= 400 : (input.outcome ?? 'refused') === 'refused';
      // What an accepted input gets posted is shown to everyone: it must not ping or link either.
      const everything = refused ? shown : [...shown, ...postedText];
      expect(liveEchoes(input.carried, everything), `${where(i)}: live mention or link shown back`).toEqual(
        [],
      );
      const outcome = { ...answer, shown, posted: single ? posted : [], refused };
      try {
        input.check?.(outcome);
      } catch (err) {
        (err as Error).message = `${where(i)}: ${(err as Error).message}`;
        throw err;
      }
      return outcome;
    });
    const stray = ephemerals.filter((c) => !single && !users.has(c.params.user as string));
    const strayText = stray.flatMap((c) => stringsOf(c.params));
    expect(strayText.join('\n')).not.toContain('Something went wrong on our side');
    expect(
      liveEchoes(
        inputs.flatMap((input) => input.carried),
        strayText,
      ),
    ).toEqual([]);

    if (outcomes.every((o) => o.refused)) {
      const batch = single ? where(0) : `one of ${inputs.map((_, i) => where(i).slice(0, 120)).join(' | ')}`;
      expect(
        posted.map((c) => `${c.method} ${JSON.stringify(c.params).slice(0, 200)}`),
        `${batch}: posted`,
      ).toEqual([]);
      if (before) expect(await tableDigest(pool), `${batch}: rows written`).toEqual(before);
    }
    return outcomes.map(({ refused: _, ...outcome }) => outcome);
  }

  /** Every input since `begin` was refused: the database and Slack are as they were. */
  async expectNothingWrittenSinceBegin(): Promise<void> {
    if (!this.start) throw new Error('begin() was not called');
    await this.settle(true);
    const posted = this.bot.slack.emulator.calls
      .slice(this.start.calls)
      .filter((c) => SLACK_WRITES.has(c.method))
      .map((c) => c.method);
    expect(posted, `${this.file}: posted since the inputs began`).toEqual([]);
    expect(await tableDigest(this.bot.app.pool), `${this.file}: rows written since the inputs began`).toEqual(
      this.start.digest,
    );
  }

  /**
   * Waits until the bot is done with what it was sent: its Slack listeners (a click is acknowledged
   * before its listener works) and then its queues.
   */
  async settle(afterAck: boolean): Promise<void> {
    const { app } = this.bot;
    if (afterAck) await app.slackHandlersIdle();
    await Promise.all([
      waitForQueueIdle(app.slackSync, 20_000),
      waitForQueueIdle(app.tasks, 20_000, ['update-reminder', 'commander-reminder', 'degradation-reminder']),
      waitForQueueIdle(app.actions, 20_000, ['expire']),
      waitForQueueIdle(app.health, 20_000),
    ]);
  }

  /** One line per file: how many inputs each surface got. */
  report(): string {
    const parts = [...this.tally].map(
      ([surface, { table, generated }]) =>
        `${surface} ${table + generated} (${table} hand-written, ${generated} generated)`,
    );
    const line = `[hostile] ${this.file}: ${parts.join('; ')}`;
    process.stdout.write(`${line}\n`);
    return line;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Hostile text

/** Ids and links that stand out: none is the bot's, so any of them shown back live came from the input. */
export const EVIL = { user: 'U0EVIL1', channel: 'C0EVIL1', url: 'https://evil.example' } as const;

/** Mentions and links as typed (Slack sends them so in command text) and as Slack escapes `<`, `>`, `&`. */
export const LIVE_MARKUP = [
  '<!here>',
  '<!channel>',
  '<!everyone>',
  `<@${EVIL.user}>`,
  `<@${EVIL.user}|boss>`,
  `<#${EVIL.channel}|x>`,
  '<!subteam^S0EVIL1|@oncall>',
  `<${EVIL.url}|click>`,
  `<${EVIL.url}>`,
  '<mailto:root@evil.example|mail>',
  'a < b | c > d',
] as const;
export const escapeSlack = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Names that are keys of every plain object: data, never a lookup. */
export const PROTO_NAMES = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'prototype'];

/** Pieces of text someone who wants the bot down would send. */
export const FRAGMENTS: readonly string[] = [
  ...LIVE_MARKUP,
  ...LIVE_MARKUP.map(escapeSlack),
  '&amp;lt;!channel&amp;gt;',
  ...PROTO_NAMES,
  '\u0000',
  'a\u0000b',
  '\ud800',
  '\udfff',
  '\u202e',
  '\ufeff',
  '\u2028',
  '%00',
  '"',
  '""',
  '"unclosed',
  "'",
  '\\',
  '`',
  '```',
  '*bold*',
  '$(id)',
  '{{x}}',
  '{{{x}}}',
  '%s%n',
  'INC-0',
  'INC-999999999',
  'INC-99999999999',
  'ACT-0',
  'ACT-999999999',
  'P5',
  'p-1',
  '--force',
  '-n=1',
  '=',
  'a=',
  '=b',
  'x=y=z',
  '-1',
  '1e308',
  'NaN',
  '🔥',
  '\n',
  '\t',
  'x'.repeat(3001),
];

/** A word or two of hostile text, or a short random string (lone surrogates and control characters included). */
export const hostileWord: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...FRAGMENTS) },
  { weight: 1, arbitrary: fc.string({ unit: 'binary', minLength: 1, maxLength: 12 }) },
  { weight: 1, arbitrary: fc.string({ unit: 'grapheme-ascii', minLength: 1, maxLength: 12 }) },
);

/** Hostile text: a few words of it. */
export const hostileText = (maxWords = 6): fc.Arbitrary<string> =>
  fc.array(hostileWord, { minLength: 1, maxLength: maxWords }).map((words) => words.join(' '));

/** Button values that should name an incident or a request by its id, and do not name one that exists. */
export const BAD_ID_VALUES: readonly string[] = [
  '',
  ' ',
  '0',
  '-1',
  '1.5',
  '1e3',
  ' 1',
  '1 ',
  '01',
  '+1',
  '0x1',
  'NaN',
  'Infinity',
  '１',
  '987654321',
  '9999999999',
  '9'.repeat(400),
  'INC-1',
  'ACT-1',
  '1\u0000',
  'a\u0000b',
  '\ud800',
  '1\udfff',
  '{"id":1}',
  'null',
  ...PROTO_NAMES,
  ...LIVE_MARKUP,
  'x'.repeat(2000),
];

/** Text that holds PostgreSQL's unstorable NUL somewhere. */
export const withNul: fc.Arbitrary<string> = fc
  .tuple(hostileText(3), hostileText(3))
  .map(([before, after]) => `${before}\u0000${after}`);

/** A header value Node's client can send at all (no control characters): what reaches the bot. */
export const headerSafe = (value: string) => /^[\x21-\x7e]*$/.test(value);

/** Every path into a JSON value, for a fuzzer to pick one to replace. */
export function jsonPaths(
  value: unknown,
  prefix: Array<string | number> = [],
): Array<Array<string | number>> {
  if (!value || typeof value !== 'object') return [];
  return Object.entries(value).flatMap(([key, item]) => {
    const path = [...prefix, Array.isArray(value) ? Number(key) : key];
    return [path, ...jsonPaths(item, path)];
  });
}

/** A copy of `value` with what is at `path` replaced, or removed when `replacement` is undefined. */
export function mutateAt<T>(value: T, path: ReadonlyArray<string | number>, replacement: unknown): T {
  const copy = structuredClone(value);
  let parent = copy as Record<string | number, unknown>;
  for (const key of path.slice(0, -1)) parent = parent[key] as Record<string | number, unknown>;
  const last = path.at(-1)!;
  if (replacement === undefined) delete parent[last];
  else parent[last] = replacement;
  return copy;
}

/** A user id of its own for each input, so that ephemeral answers are told apart. */
let users = 0;
export const freshUser = () => `U0H${(++users).toString(36).toUpperCase().padStart(5, '0')}`;

// ---------------------------------------------------------------------------------------------------------
// Configs

/** A catalog for /health, /action and the buttons: a check that fails fast, and actions that do nothing. */
export const SERVICES_CONFIG = `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    checks:
      - { name: health-endpoint, kind: http, url: 'http://127.0.0.1:1/health', timeout: 1s }
    actions:
      - name: scale
        description: Scale the payments-api deployment
        kind: scale
        driver: { type: command, argv: ['true', '{{replicas}}'] }
        params: { replicas: { type: integer, min: 1, max: 20 } }
        approval: { approvers: [${SRE.bob}, ${SRE.carol}], required: 1 }
      - name: announce
        description: Send a message through the deploy tool
        kind: custom
        driver: { type: command, argv: ['true', '--message={{message}}'] }
        params: { message: { type: string, maxLength: 1000 } }
        approval: { approvers: [${SRE.bob}], required: 1 }
      - name: restart
        description: Restart payments-api
        kind: custom
        driver: { type: command, argv: ['true'] }
        approval: { approvers: [${SRE.bob}], required: 1 }
`;
export const SERVICE_NAMES = ['payments-api'] as const;
export const ACTION_NAMES = ['scale', 'announce', 'restart'] as const;
