import type { IncomingMessage, ServerResponse } from 'node:http';
import type { App, Receiver } from '@slack/bolt';
import { dispatchToBolt, readEnvelope } from '../listeners/envelope.js';
import type { Logger } from '../observability/logger.js';
import { signatureProblem } from '../slack/signing.js';
import { HttpError, readBody, sendJson } from './respond.js';

/** Slack's interactivity payloads hold a whole view; a megabyte is far past any of ours. */
export const SLACK_BODY_LIMIT = 1024 * 1024;

/**
 * POST /slack/events as a Bolt receiver of our own: the request is checked in full (method, size,
 * signature and timestamp, envelope shape) before Bolt sees it, and every refusal is an HTTP answer
 * naming what was wrong. Bolt's own HTTPReceiver throws on a GET and trusts the body's shape.
 */
export class SlackEventsRoute implements Receiver {
  private app: App | undefined;

  constructor(
    private readonly signingSecret: string,
    private readonly logger: Logger,
  ) {}

  init(app: App): void {
    this.app = app;
  }

  // Our own server listens (src/http/server.ts); this only answers its requests.
  async start(): Promise<void> {}
  async stop(): Promise<void> {}

  readonly handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    try {
      await this.serve(req, res);
    } catch (err) {
      if (!(err instanceof HttpError)) throw err;
      if (err.status === 401) this.logger.info({ reason: err.message }, 'refused an unsigned Slack request');
      sendJson(res, err.status, { error: err.message }, err.headers);
    }
  };

  private async serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (req.method !== 'POST') throw new HttpError(405, 'use POST', { allow: 'POST' });
    const raw = await readBody(req, SLACK_BODY_LIMIT);
    const problem = signatureProblem(
      this.signingSecret,
      { timestamp: req.headers['x-slack-request-timestamp'], signature: req.headers['x-slack-signature'] },
      raw,
    );
    if (problem) throw new HttpError(401, problem);
    const read = readEnvelope(...parseBody(req.headers['content-type'], raw));
    if (!read.ok) throw new HttpError(400, read.problem);
    const { envelope } = read;
    if (envelope.kind === 'ssl_check') return void res.writeHead(200).end();
    if (envelope.kind === 'url_verification') return sendJson(res, 200, { challenge: envelope.challenge });
    if (!this.app) throw new Error('the Slack receiver was not given to an App');

    const retryNum = Number(req.headers['x-slack-retry-num']);
    const retryReason = req.headers['x-slack-retry-reason'];
    try {
      await dispatchToBolt(
        this.app,
        {
          body: envelope.body,
          ...(Number.isInteger(retryNum) ? { retryNum } : {}),
          ...(typeof retryReason === 'string' ? { retryReason } : {}),
          ack: async (response?: unknown) => answer(res, response),
        },
        this.logger,
      );
    } catch (err) {
      // Acknowledged already, Slack has its answer: what failed afterwards is only ours to log.
      if (!res.headersSent) throw err;
      this.logger.error({ err }, 'Slack request failed after its acknowledgement');
    }
  }
}

/** The body as `readEnvelope` takes it: form fields, or JSON for the Events API. */
function parseBody(
  contentType: string | undefined,
  raw: Buffer,
): [Record<string, string> | undefined, unknown?] {
  const type = contentType?.split(';')[0]?.trim().toLowerCase();
  const text = raw.toString('utf8');
  if (type === 'application/x-www-form-urlencoded') return [Object.fromEntries(new URLSearchParams(text))];
  if (type === 'application/json') {
    try {
      return [undefined, JSON.parse(text)];
    } catch {
      throw new HttpError(400, 'body: not valid JSON');
    }
  }
  throw new HttpError(415, 'content-type: expected application/x-www-form-urlencoded or application/json');
}

/** An acknowledgement as Slack reads it: empty, text, or a JSON message or view response. */
function answer(res: ServerResponse, response: unknown): void {
  if (res.headersSent) return;
  if (response === undefined || response === '') return void res.writeHead(200).end();
  if (typeof response === 'string') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' });
    return void res.end(response);
  }
  sendJson(res, 200, response);
}
