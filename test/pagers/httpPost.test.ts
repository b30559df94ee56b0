import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { PagerError } from '../../src/pagers/errors.js';
import { postJson } from '../../src/pagers/httpPost.js';

const SECRET = 'R0UTINGKEYtest0123456789abcdefab';

describe('postJson (a pager over HTTP)', () => {
  let server: Server | undefined;
  afterEach(async () => {
    server?.closeAllConnections();
    await new Promise((resolve) => server?.close(resolve));
  });

  /** A pager answering `status` with `answer(body)`. */
  async function pager(status: number, answer: (body: string) => string): Promise<string> {
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk) => {
        body += chunk;
      });
      req.on('end', () => res.writeHead(status, { 'content-type': 'application/json' }).end(answer(body)));
    });
    await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}/v2/enqueue`;
  }

  const failure = async (url: string) => {
    try {
      await postJson(url, JSON.stringify({ routing_key: SECRET }), {}, SECRET);
    } catch (err) {
      if (err instanceof PagerError) return { code: err.code, message: err.message };
      throw err;
    }
    throw new Error('expected a PagerError');
  };

  it('never repeats the secret a pager echoes back in its refusal', async () => {
    const url = await pager(400, (body) =>
      JSON.stringify({ message: `bad event ${body}`, errors: [SECRET] }),
    );
    const { code, message } = await failure(url);
    expect(code).toBe('PAGER_REFUSED');
    expect(message).not.toContain(SECRET);
    expect(message).toBe('HTTP 400: bad event {"routing_key":"[REDACTED]"}: [REDACTED]');
  });

  it('takes 429 and 5xx for a pager to try again, and cuts a long answer short', async () => {
    expect(await failure(await pager(429, () => ''))).toEqual({
      code: 'PAGER_UNAVAILABLE',
      message: 'HTTP 429',
    });
    const { code, message } = await failure(await pager(502, () => `<html>${'x'.repeat(5000)}</html>`));
    expect(code).toBe('PAGER_UNAVAILABLE');
    expect(message.length).toBeLessThan(220);
  });

  it('takes a pager that does not answer for one to try again', async () => {
    const url = await pager(202, () => '');
    server!.close();
    server!.closeAllConnections();
    expect((await failure(url)).code).toBe('PAGER_UNAVAILABLE');
  });
});
