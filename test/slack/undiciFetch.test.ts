import { createServer, type IncomingHttpHeaders, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { isTransientDbError } from '../../src/db/pool.js';
import { isTransientQueueError } from '../../src/queues/queues.js';
import { startSlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { SlackRateLimitedError, SlackUnavailableError } from '../../src/slack/errors.js';
import { SlackApi } from '../../src/slack/slackApi.js';
import { TEST_SECRETS } from '../support/testBot.js';

describe("the bot's Slack calls, on undici's request", () => {
  const token = TEST_SECRETS.botToken;
  afterEach(() => {
    vi.unstubAllGlobals();
  });

  it("never go through Node's fetch, and still carry messages, files and the token's scopes", async () => {
    const slack = await startSlackEmulator({ token, scopes: ['chat:write', 'files:write'] });
    try {
      vi.stubGlobal('fetch', () => Promise.reject(new Error('Slack calls must not use fetch')));
      const api = new SlackApi(token, slack.apiUrl);
      const posted = await api.postMessage({ channel: 'C0OPS', text: 'hello', blocks: [] });
      await api.update({ ...posted, text: 'hello again', blocks: [] });
      // A file's content goes up, to the URL Slack hands out.
      const fileId = await api.stageFile({ filename: 'postmortem.md', content: '# INC-1' });
      await api.shareFile({ fileId, title: 'Post-mortem', channel: 'C0OPS' });
      expect(slack.emulator.files().find((f) => f.id === fileId)).toMatchObject({
        content: '# INC-1',
        title: 'Post-mortem',
        channel: 'C0OPS',
      });
      expect(slack.emulator.message(posted.channel, posted.ts)?.text).toBe('hello again');
      // WebClient reads the scopes from a header of the answer.
      expect((await api.identity()).scopes).toEqual(['chat:write', 'files:write']);
    } finally {
      await slack.close();
    }
  });

  describe('as HTTP', () => {
    let answer: (res: ServerResponse) => void;
    const seen: IncomingHttpHeaders[] = [];
    let url: string;
    const server = createServer((req, res) => {
      seen.push(req.headers);
      req.resume().on('end', () => answer(res));
    });
    beforeAll(async () => {
      await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
      url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/`;
    });
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
    beforeEach(() => {
      seen.length = 0;
    });
    const ephemeral = (at = url) =>
      new SlackApi(token, at)
        .postEphemeral({ channel: 'C0OPS', user: 'U0ALICE', text: 'hi' })
        .catch((e: unknown) => e as Error);

    it("takes a 500 or 503 with Slack's request id as answered by Slack, a 502 or a proxy's 503 as no answer", async () => {
      for (const [status, slackMadeIt, answered] of [
        [500, true, true],
        [503, true, true],
        [502, true, false],
        [503, false, false],
        [500, false, false],
      ] as const) {
        answer = (res) =>
          res
            .writeHead(status, slackMadeIt ? { 'x-slack-req-id': 'b6a0e9c1f2d3' } : {})
            .end('<html>bad gateway</html>');
        const err = await ephemeral();
        expect(err).toBeInstanceOf(SlackUnavailableError);
        expect((err as SlackUnavailableError).answered).toBe(answered);
      }
    });

    it('takes a Slack it cannot reach for Slack unavailable, not for PostgreSQL or Redis down', async () => {
      const closed = createServer();
      await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
      const port = (closed.address() as AddressInfo).port;
      await new Promise<void>((resolve) => closed.close(() => resolve()));
      const err = await ephemeral(`http://127.0.0.1:${port}/api/`);
      expect(err).toBeInstanceOf(SlackUnavailableError);
      expect((err as SlackUnavailableError).answered).toBe(false);
      expect(isTransientDbError(err)).toBe(false);
      expect(isTransientQueueError(err)).toBe(false);
    });

    it("takes a 429's Retry-After as how long to wait", async () => {
      answer = (res) => res.writeHead(429, { 'retry-after': '7' }).end();
      const err = await ephemeral();
      expect(err).toBeInstanceOf(SlackRateLimitedError);
      expect((err as SlackRateLimitedError).waitMs).toBe(7_000);
    });

    it('follows no redirect, so that the token goes nowhere else', async () => {
      answer = (res) => res.writeHead(302, { location: `${url}elsewhere` }).end();
      const err = await ephemeral();
      expect(err).toBeInstanceOf(SlackUnavailableError);
      expect((err as SlackUnavailableError).answered).toBe(false);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.authorization).toBe(`Bearer ${token}`);
    });
  });
});
