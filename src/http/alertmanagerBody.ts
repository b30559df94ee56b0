import type { IncomingMessage } from 'node:http';
import { AlertSchema } from '../alerts/payload.js';
import { formatPath, requiredMessage } from '../config/errors.js';
import { isObject } from '../primitives/records.js';
import { HttpError } from './respond.js';

/**
 * Reading a notification of any size Alertmanager may send without holding it whole. The worst storms
 * make the biggest notifications, and Alertmanager drops any it gets a 4xx for, so the body is read as
 * it arrives: everything but the alerts is kept as it was sent, the first alerts are kept in full, and
 * the rest are checked one by one and counted, as Alertmanager's own truncation would. Alertmanager
 * writes `alerts` before `groupKey`, so the group is only known at the end.
 */

export interface BodyLimits {
  /** Past this, the notification is refused (413). */
  maxBytes: number;
  /** The alerts kept in full: at most this many, */
  keptAlerts: number;
  /** and at most this many bytes of them. */
  keptAlertBytes: number;
  /** How far a refused body is still read to learn its group for the log; past it, the connection closes. */
  drainBytes: number;
}

const MiB = 1024 * 1024;
export const ALERTMANAGER_BODY_LIMITS: BodyLimits = {
  maxBytes: 32 * MiB,
  keptAlerts: 1000,
  keptAlertBytes: 8 * MiB,
  drainBytes: 256 * MiB,
};

export type ScannedBody =
  /** The notification with its first alerts in full, and how many more it listed. */
  | { tooLarge: false; json: unknown; truncatedAlerts: number; bytes: number }
  /** Over maxBytes: what was learnt of it, for the log. */
  | { tooLarge: true; bytes: number; groupKey?: string; readToEnd: boolean };

export type AlertmanagerBody =
  | ScannedBody
  /** Declared at most WHOLE_BODY_MAX_BYTES: held whole, for parseWholeBody. */
  | { tooLarge: false; whole: Buffer; bytes: number };

const [QUOTE, BACKSLASH, OPEN_OBJECT, CLOSE_OBJECT, OPEN_ARRAY, CLOSE_ARRAY, COMMA, COLON] = [
  0x22, 0x5c, 0x7b, 0x7d, 0x5b, 0x5d, 0x2c, 0x3a,
];
const isSpace = (byte: number) => byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09;
/** Top-level keys read even past the limit: enough to name the group in the log. */
const KEY_MAX_BYTES = 64;
const GROUP_KEY_MAX_BYTES = 10_000;

/**
 * Splits a JSON body into its frame (all but the elements of the top-level `alerts` array) and those
 * elements, byte by byte. It tracks only strings and nesting: JSON.parse of the frame and of each element
 * checks the rest of the grammar.
 */
export class AlertmanagerBodyScanner {
  private readonly stack: Array<typeof OPEN_OBJECT | typeof OPEN_ARRAY> = [];
  private inString = false;
  private escaped = false;
  /** At the top level: a key is next (after `{` or `,`), and the key being read. */
  private keyNext = false;
  private key: number[] | undefined;
  private currentKey: string | undefined;
  private inAlerts = false;
  private inElement = false;
  /** A comma ended the last element: another must follow before `]`. */
  private afterComma = false;
  private readonly frame: Buffer[] = [];
  private element: Buffer[] = [];
  private readonly kept: unknown[] = [];
  private keptBytes = 0;
  /** Alerts are kept until the first that does not fit: the kept ones are the first, as listed. */
  private keeping = true;
  private truncated = 0;
  private alertsKeySeen = false;
  private index = 0;
  private bytes = 0;
  private draining = false;
  private groupKey: number[] | undefined;
  private readingGroupKey = false;

  constructor(private readonly limits: BodyLimits) {}

  /** False once past drainBytes: stop reading. */
  write(chunk: Buffer): boolean {
    this.bytes += chunk.length;
    if (!this.draining && this.bytes > this.limits.maxBytes) this.startDraining();
    let segment = 0;
    for (let i = 0; i < chunk.length; i++) {
      const byte = chunk[i]!;
      if (this.inString) {
        if (this.key && this.key.length <= KEY_MAX_BYTES) this.key.push(byte);
        if (this.readingGroupKey && this.groupKey!.length <= GROUP_KEY_MAX_BYTES) this.groupKey!.push(byte);
        if (this.escaped) this.escaped = false;
        else if (byte === BACKSLASH) this.escaped = true;
        else if (byte === QUOTE) this.endString();
        continue;
      }
      const depth = this.stack.length;
      // Inside the top-level `alerts` array, between elements: commas and the closing bracket end one.
      if (this.inAlerts && depth === 2) {
        if (byte === COMMA || byte === CLOSE_ARRAY) {
          // `[,`, `,,` and `,]` are not JSON, though nothing is left of them for JSON.parse to see.
          // Past the limit the body is only scanned for its group: a fault there does not make 413 a 400.
          if (!this.inElement && (byte === COMMA || this.afterComma) && !this.draining)
            throw notJson('body', 'an empty alert');
          if (this.inElement) {
            this.keepElement(chunk.subarray(segment, i));
            this.endElement();
          } else this.keepFrame(chunk.subarray(segment, i));
          this.afterComma = byte === COMMA;
          segment = byte === COMMA ? i + 1 : i;
          if (byte === COMMA) continue;
        } else if (!this.inElement && !isSpace(byte)) {
          this.keepFrame(chunk.subarray(segment, i));
          segment = i;
          this.inElement = true;
        }
      }
      switch (byte) {
        case QUOTE:
          this.inString = true;
          if (depth === 1 && this.keyNext) this.key = [byte];
          else if (depth === 1 && this.currentKey === 'groupKey') {
            this.readingGroupKey = true;
            this.groupKey = [byte];
          }
          break;
        case OPEN_OBJECT:
        case OPEN_ARRAY:
          if (depth === 1 && byte === OPEN_ARRAY && this.currentKey === 'alerts') this.inAlerts = true;
          this.stack.push(byte);
          if (this.stack.length === 1) this.keyNext = byte === OPEN_OBJECT;
          break;
        case CLOSE_OBJECT:
        case CLOSE_ARRAY:
          this.stack.pop();
          if (this.stack.length === 1) this.inAlerts = false;
          break;
        case COMMA:
          if (depth === 1) this.keyNext = this.stack[0] === OPEN_OBJECT;
          break;
        case COLON:
          if (depth === 1) this.keyNext = false;
          break;
      }
    }
    if (this.inElement) this.keepElement(chunk.subarray(segment));
    else this.keepFrame(chunk.subarray(segment));
    return this.bytes <= this.limits.drainBytes;
  }

  end(): ScannedBody {
    if (this.draining) {
      return {
        tooLarge: true,
        bytes: this.bytes,
        readToEnd: this.bytes <= this.limits.drainBytes,
        ...(this.groupKey && !this.readingGroupKey ? { groupKey: stringOf(this.groupKey) } : {}),
      };
    }
    // Only the text is held while it is parsed: a frame of tens of MiB (long commonAnnotations) once, not thrice.
    const text = Buffer.concat(this.frame).toString('utf8');
    this.frame.length = 0;
    const json = parseJson(text, 'body');
    // Only a top-level object's `alerts` array was split; anything else is left for validation to refuse.
    if (json && typeof json === 'object' && Array.isArray((json as { alerts?: unknown }).alerts))
      (json as { alerts: unknown[] }).alerts = this.kept;
    return { tooLarge: false, json, truncatedAlerts: this.truncated, bytes: this.bytes };
  }

  private endString(): void {
    this.inString = false;
    if (this.key) {
      // A key that is not JSON is left for JSON.parse of the frame to refuse, or ignored past the limit.
      this.currentKey = this.key.length <= KEY_MAX_BYTES ? stringOf(this.key) : undefined;
      this.key = undefined;
      if (this.currentKey === 'alerts') {
        // JSON.parse would keep the last; the scanner has kept the elements of the first.
        if (this.alertsKeySeen && !this.draining) throw new HttpError(400, 'alerts: given twice');
        this.alertsKeySeen = true;
      }
    }
    this.readingGroupKey = false;
  }

  private keepElement(bytes: Buffer): void {
    if (!this.draining) this.element.push(bytes);
  }

  private keepFrame(bytes: Buffer): void {
    // A copy: a slice would keep the whole chunk it came from alive.
    if (!this.draining && bytes.length > 0) this.frame.push(Buffer.from(bytes));
  }

  private endElement(): void {
    this.inElement = false;
    const index = this.index++;
    if (this.draining) return;
    const bytes = Buffer.concat(this.element);
    this.element = [];
    const alert = parseJson(bytes, `alerts[${index}]`);
    // The first alert is kept whatever its size: a notification always shows at least one.
    this.keeping &&=
      this.kept.length === 0 ||
      (this.kept.length < this.limits.keptAlerts &&
        this.keptBytes + bytes.length <= this.limits.keptAlertBytes);
    if (this.keeping) {
      this.kept.push(alert);
      this.keptBytes += bytes.length;
      return;
    }
    // Not kept, but checked as strictly as the kept ones: a malformed alert is a malformed notification.
    const checked = AlertSchema.safeParse(alert, requiredMessage);
    if (!checked.success) {
      const issue = checked.error.issues[0]!;
      throw new HttpError(400, `${formatPath(['alerts', index, ...issue.path])}: ${issue.message}`);
    }
    this.truncated++;
  }

  private startDraining(): void {
    this.draining = true;
    this.frame.length = 0;
    this.element = [];
    this.kept.length = 0;
  }
}

const notJson = (what: string, why: string) => new HttpError(400, `${what}: not valid JSON (${why})`);

function parseJson(bytes: Buffer | string, what: string): unknown {
  const text = typeof bytes === 'string' ? bytes : bytes.toString('utf8');
  try {
    return JSON.parse(text);
  } catch (err) {
    throw notJson(what, (err as Error).message);
  }
}

/** A JSON string's value; undefined when the bytes are not one (cut short, say). */
function stringOf(bytes: number[]): string | undefined {
  try {
    const value: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    return typeof value === 'string' ? value : undefined;
  } catch {
    return undefined;
  }
}

/** A body declared at most this long is held whole: parsed at once (parseWholeBody) or known by its bytes. */
export const WHOLE_BODY_MAX_BYTES = 1024 * 1024;

// A \u escape of a letter of `alerts`: a key spelt so is one JSON.parse would take for a second `alerts`.
const ESCAPED_ALERTS_LETTER = /\\u00(?:6[15cC]|7[234])/;

/**
 * What the scanner makes of a body held whole, with one JSON.parse where that gives the same (most
 * notifications: the byte-by-byte scan costs more than the parse): a body that parses, names `alerts`
 * once and keeps every alert. Anything else is scanned, for its truncation and its errors.
 */
export function parseWholeBody(bytes: Buffer, limits: BodyLimits): ScannedBody {
  const text = bytes.toString('utf8');
  const key = text.indexOf('"alerts"');
  if (
    bytes.length <= Math.min(limits.maxBytes, limits.keptAlertBytes) &&
    key === text.lastIndexOf('"alerts"') &&
    !ESCAPED_ALERTS_LETTER.test(text)
  ) {
    const parsed = tryParse(text);
    const alerts = parsed.ok && isObject(parsed.json) ? parsed.json.alerts : undefined;
    if (parsed.ok && (!Array.isArray(alerts) || alerts.length <= limits.keptAlerts))
      return { tooLarge: false, json: parsed.json, truncatedAlerts: 0, bytes: bytes.length };
  }
  const scanner = new AlertmanagerBodyScanner(limits);
  scanner.write(bytes);
  return scanner.end();
}

function tryParse(text: string): { ok: true; json: unknown } | { ok: false } {
  try {
    return { ok: true, json: JSON.parse(text) };
  } catch {
    return { ok: false };
  }
}

/** The sender closed the connection before the end of its body. */
export class RequestAborted extends Error {
  constructor(options: { cause: unknown }) {
    super('the request was aborted before the end of its body', options);
    this.name = 'RequestAborted';
  }
}

/**
 * Reads a notification as it arrives. Past maxBytes it goes on reading, keeping nothing, to learn the
 * group for the log, up to drainBytes; a body declared longer than that is refused without reading.
 * The rest of a body refused before its end is read and dropped, so the client gets its answer rather
 * than a reset connection; one not read to its end (readToEnd false) should be answered with
 * `connection: close`, which ends the reading. A body declared at most WHOLE_BODY_MAX_BYTES is held whole
 * and given as it came, for parseWholeBody.
 */
export function readAlertmanagerBody(req: IncomingMessage, limits: BodyLimits): Promise<AlertmanagerBody> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limits.drainBytes)
    return Promise.resolve({ tooLarge: true, bytes: declared, readToEnd: false });
  // Only a declared length says where the body ends (Alertmanager always sends one): a chunked body past
  // the limit is refused at once, rather than read on for a group that may never come.
  const scanner = new AlertmanagerBodyScanner(
    Number.isFinite(declared) ? limits : { ...limits, drainBytes: limits.maxBytes },
  );
  // A body declared small is held whole, to be parsed at its end (Node ends a body at its declared length).
  const held: Buffer[] | undefined = declared <= WHOLE_BODY_MAX_BYTES ? [] : undefined;
  return new Promise((resolve, reject) => {
    const onError = (cause: unknown) => reject(new RequestAborted({ cause }));
    const settle = (outcome: () => AlertmanagerBody) => {
      req.off('data', onData).off('end', onEnd).off('error', onError);
      // A body refused before its end is read on and dropped, not destroyed: that would reset the
      // connection under the answer. (Node drops it itself only for a body nobody began to read.)
      if (!req.readableEnded) req.resume();
      try {
        resolve(outcome());
      } catch (err) {
        reject(err);
      }
    };
    const onData = (chunk: Buffer) => {
      if (held) {
        held.push(chunk);
        return;
      }
      try {
        if (!scanner.write(chunk)) settle(() => scanner.end());
      } catch (err) {
        settle(() => {
          throw err;
        });
      }
    };
    const onEnd = () =>
      settle(() => {
        if (!held) return scanner.end();
        const whole = Buffer.concat(held);
        return { tooLarge: false, whole, bytes: whole.length };
      });
    req.on('data', onData).on('end', onEnd).on('error', onError);
  });
}
