import http from 'node:http';
import https from 'node:https';
import { CheckFailure } from './checkRun.js';

const MAX_BODY_BYTES = 1024 * 1024;

export interface CheckRequest {
  url: string;
  method: string;
  headers?: Record<string, string>;
  body?: string;
}

/**
 * One request on a socket of its own (`agent: false`), destroyed once answered: fetch's shared pool
 * would keep sockets open after a check, and even open a fresh one after an aborted request.
 * Redirects are not followed, as with `curl -f`: the check reports what the endpoint itself answers.
 * The body is read only when `wantBody` says so for the status answered.
 */
export function httpRequest(
  input: CheckRequest,
  signal: AbortSignal,
  wantBody: (status: number) => boolean,
): Promise<{ status: number; body: string; location?: string }> {
  const url = new URL(input.url);
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      url,
      {
        method: input.method,
        agent: false,
        signal,
        headers: { accept: 'application/json, */*;q=0.5', 'user-agent': 'incident-bot', ...input.headers },
      },
      (response) => {
        const status = response.statusCode ?? 0;
        const { location } = response.headers;
        const answered = (body: string) => resolve({ status, body, ...(location ? { location } : {}) });
        if (!wantBody(status)) {
          request.destroy();
          answered('');
          return;
        }
        const chunks: Buffer[] = [];
        let size = 0;
        response.on('data', (chunk: Buffer) => {
          size += chunk.length;
          chunks.push(chunk);
          // An endpoint streaming megabytes at a check is broken; reading on would only waste the budget.
          if (size > MAX_BODY_BYTES) {
            request.destroy();
            reject(new CheckFailure(`response body is larger than ${MAX_BODY_BYTES} bytes`));
          }
        });
        response.on('end', () => {
          request.destroy();
          answered(Buffer.concat(chunks).toString('utf8'));
        });
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(input.body);
  });
}
