import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedPage {
  path: string;
  headers: IncomingHttpHeaders;
  /** The body as it came, byte for byte: what a signature covers. */
  raw: string;
  body: Record<string, unknown>;
  /** The status it was answered with. */
  status: number;
}

export interface PagerStandIn {
  url: string;
  /** Every request, answered or not, oldest first. */
  received: RecordedPage[];
  /** The statuses the next requests get, in order; after them, `fallback`. */
  answerNext(...statuses: number[]): void;
  /** What every request gets once the queued answers are used up (PagerDuty's 202 to begin with). */
  fallback: number;
  /** While set, a request is recorded on arrival and answered only once this settles (a slow pager). */
  gate?: Promise<void>;
  close(): Promise<void>;
}

/** PagerDuty's limit on an Events API v2 event ("Size Limits" in its Events API v2 overview). */
export const PAGERDUTY_MAX_EVENT_BYTES = 512 * 1024;

/**
 * A recording stand-in for PagerDuty's Events API and for a page webhook: real HTTP on 127.0.0.1. Like
 * PagerDuty, it refuses a body over 512 KB with a 400.
 */
export async function startPagerStandIn(): Promise<PagerStandIn> {
  const queued: number[] = [];
  const standIn: Omit<PagerStandIn, 'url' | 'close'> = {
    received: [],
    fallback: 202,
    answerNext: (...statuses) => queued.push(...statuses),
  };
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const status =
        Buffer.byteLength(raw) > PAGERDUTY_MAX_EVENT_BYTES ? 400 : (queued.shift() ?? standIn.fallback);
      let body: Record<string, unknown> = {};
      try {
        body = JSON.parse(raw) as Record<string, unknown>;
      } catch {
        // recorded as it came
      }
      standIn.received.push({ path: req.url ?? '', headers: req.headers, raw, body, status });
      await standIn.gate;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify(
          status < 300
            ? { status: 'success', message: 'Event processed', dedup_key: body.dedup_key }
            : { status: 'invalid event', message: 'Event object is invalid', errors: [`status ${status}`] },
        ),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(standIn, {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}
