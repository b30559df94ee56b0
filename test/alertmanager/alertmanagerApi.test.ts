import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { type AddressInfo, createServer as createNetServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertmanagerApi } from '../../src/alertmanager/alertmanagerApi.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { unusedPort, waitFor } from '../support/services.js';
import { alertmanagerRejection, silenceSpec } from '../support/silenceSpecs.js';

const HOUR = 3_600_000;

describeWithAlertmanager('the Alertmanager API, against a real HA pair', () => {
  let cluster: AlertmanagerCluster;
  let closedUrl: string;
  beforeAll(async () => {
    // The peers notify nobody here: only their silence API is used.
    const nowhere = `http://127.0.0.1:${await unusedPort()}/alertmanager`;
    cluster = await startAlertmanagerCluster({ webhookUrls: [nowhere, nowhere], token: 'x'.repeat(32) });
    closedUrl = `http://127.0.0.1:${await unusedPort()}/`;
  }, 60_000);
  afterAll(() => cluster?.stop());

  const api = (urls: string[]) => new AlertmanagerApi(urls, undefined, 2_000);
  const peerUrls = () => cluster.peers.map((peer) => `${peer.url}/`);

  it('creates a silence that every peer then knows, with its matchers, author and comment', async () => {
    const given = silenceSpec();
    const id = await api(peerUrls()).postSilence(given);
    // Written to the first peer, read from the second: the peers gossip it.
    const silence = await waitFor(
      () =>
        api([peerUrls()[1]!])
          .getSilence(id)
          .catch(() => undefined),
      10_000,
      'the silence to reach the other peer',
    );
    expect(silence).toMatchObject({
      id,
      state: 'active',
      createdBy: 'U0ALICE',
      comment: 'INC-7: deploying the fix',
      matchers: given.matchers,
      endsAt: given.endsAt,
    });
  });

  it('keeps the id when only the end moves, and gives a new one when the matchers change', async () => {
    const client = api(peerUrls());
    const given = silenceSpec();
    const id = await client.postSilence(given);
    const extended = { ...given, endsAt: new Date(given.endsAt.getTime() + HOUR) };
    expect(await client.postSilence(extended, id)).toBe(id);
    expect((await client.getSilence(id)).endsAt).toEqual(extended.endsAt);
    const moved = await client.postSilence({ ...extended, matchers: given.matchers.slice(0, 1) }, id);
    expect(moved).not.toBe(id);
    expect((await client.getSilence(moved)).state).toBe('active');
    expect((await client.getSilence(id)).state).toBe('expired');
  });

  it('expires a silence, and expiring it again is no error; an unknown one is SILENCE_NOT_FOUND', async () => {
    const client = api(peerUrls());
    const id = await client.postSilence(silenceSpec());
    await client.expireSilence(id);
    expect((await client.getSilence(id)).state).toBe('expired');
    await client.expireSilence(id);
    const unknown = await alertmanagerRejection(client.expireSilence('0b0e5f1c-1111-4222-8333-944445555666'));
    expect(unknown.code).toBe('SILENCE_NOT_FOUND');
    // Not an id at all: refused before it can reach a URL path.
    expect((await alertmanagerRejection(client.getSilence('../status'))).code).toBe('SILENCE_NOT_FOUND');
  });

  it('lists every silence it knows, expired ones too, with their comments', async () => {
    const client = api(peerUrls());
    const marker = `[test ${Date.now()}]`;
    const live = await client.postSilence(silenceSpec({ comment: `INC-8: live ${marker}` }));
    const gone = await client.postSilence(silenceSpec({ comment: `INC-8: gone ${marker}` }));
    await client.expireSilence(gone);
    const listed = (await client.listSilences()).filter((s) => s.comment.includes(marker));
    expect(listed.map((s) => [s.id, s.state]).sort()).toEqual(
      [
        [live, 'active'],
        [gone, 'expired'],
      ].sort(),
    );
    expect(listed.find((s) => s.id === live)).toMatchObject({
      createdBy: 'U0ALICE',
      matchers: silenceSpec().matchers,
    });
  });

  it('writes to the next peer when the first cannot be reached', async () => {
    const id = await api([closedUrl, ...peerUrls()]).postSilence(silenceSpec());
    expect((await api(peerUrls()).getSilence(id)).state).toBe('active');
  });

  it('writes to the next peer when the connection to the first never completes', async () => {
    const { url, stop } = await connectionNeverCompleting();
    try {
      // Within the call's 2 s: its connection fails first (in 1 s), as never sent.
      const id = await api([url, ...peerUrls()]).postSilence(silenceSpec());
      expect((await api(peerUrls()).getSilence(id)).state).toBe('active');
    } finally {
      stop();
    }
  });

  it('takes an empty 404 from a proxy in front of the first peer for that peer failing, except for one silence', async () => {
    const noRoute = createServer((req, res) => {
      req.resume();
      res.writeHead(404, { 'content-length': '0' }).end();
    });
    await new Promise<void>((resolve) => noRoute.listen(0, '127.0.0.1', resolve));
    try {
      const proxy = `http://127.0.0.1:${(noRoute.address() as AddressInfo).port}/`;
      const id = await api(peerUrls()).postSilence(silenceSpec());
      // Envoy answers a request it has no route for so: the next peer is asked (it was taken for a
      // silence unknown to Alertmanager, and the list failed).
      expect((await api([proxy, ...peerUrls()]).listSilences()).map((s) => s.id)).toContain(id);
      // About one silence, Alertmanager answers so itself: a GET (0.25), a DELETE since 0.26.
      for (const call of [() => api([proxy]).getSilence(id), () => api([proxy]).expireSilence(id)])
        await expect(call()).rejects.toMatchObject({ code: 'SILENCE_NOT_FOUND' });
    } finally {
      noRoute.close();
    }
  });

  it("passes on Alertmanager's reason when it refuses, and tries no other peer", async () => {
    const given = silenceSpec();
    const err = await alertmanagerRejection(
      api(peerUrls()).postSilence({ ...given, endsAt: given.startsAt }),
    );
    expect(err.code).toBe('ALERTMANAGER_REFUSED');
    expect(err.status).toBe(400);
    expect(err.message).toContain('start time must be before end time');
  });

  it('says ALERTMANAGER_UNREACHABLE, naming each peer it tried, when none answers', async () => {
    const err = await alertmanagerRejection(api([closedUrl, closedUrl]).postSilence(silenceSpec()));
    expect(err.code).toBe('ALERTMANAGER_UNREACHABLE');
    expect(err.message).toContain('ECONNREFUSED');
  });
});

describe('the Alertmanager API, as HTTP', () => {
  let server: Server;
  let url: string;
  const seen: Array<{ method?: string; url?: string; headers: IncomingHttpHeaders }> = [];
  let answer: (res: import('node:http').ServerResponse) => void = (res) => res.end();
  beforeAll(async () => {
    server = createServer((req, res) => {
      seen.push({ method: req.method, url: req.url, headers: req.headers });
      req.resume();
      req.on('end', () => answer(res));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/am/`;
  });
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it('sends the bearer token or basic credentials it is given, under the base path', async () => {
    answer = (res) => res.end(JSON.stringify({ silenceID: '0b0e5f1c-1111-4222-8333-944445555666' }));
    seen.length = 0;
    await new AlertmanagerApi([url], { kind: 'bearer', token: 's3cret' }, 1_000).postSilence(silenceSpec());
    await new AlertmanagerApi([url], { kind: 'basic', username: 'bot', password: 'pw' }, 1_000).postSilence(
      silenceSpec(),
    );
    expect(seen.map((r) => [r.method, r.url, r.headers.authorization])).toEqual([
      ['POST', '/am/api/v2/silences', 'Bearer s3cret'],
      ['POST', '/am/api/v2/silences', `Basic ${Buffer.from('bot:pw').toString('base64')}`],
    ]);
  });

  it('never passes on the credentials a proxy quotes back in its refusal', async () => {
    const token = 'am-api-token-0123456789abcdef0123456789';
    const password = 'correct-horse-battery-staple-42';
    const pair = Buffer.from(`incident-bot:${password}`).toString('base64');
    const echoed = (status: number) => (res: import('node:http').ServerResponse) =>
      res
        .writeHead(status, { 'content-type': 'application/json' })
        .end(JSON.stringify({ message: `refused ${seen.at(-1)?.headers.authorization}` }));
    for (const status of [401, 503]) {
      answer = echoed(status);
      const reasons = [
        (
          await alertmanagerRejection(
            new AlertmanagerApi([url], { kind: 'bearer', token }, 1_000).listSilences(),
          )
        ).message,
        (
          await alertmanagerRejection(
            new AlertmanagerApi(
              [url],
              { kind: 'basic', username: 'incident-bot', password },
              1_000,
            ).listSilences(),
          )
        ).message,
      ];
      expect(reasons[0]).toContain('refused Bearer [REDACTED]');
      for (const reason of reasons) {
        for (const secret of [token, password, pair]) expect(reason).not.toContain(secret.slice(0, 12));
      }
    }
  });

  it('hides credentials a proxy quotes escaped, or in part', async () => {
    const password = 'correct/horse"battery\\staple  with\tspaces';
    const pair = Buffer.from(`incident-bot:${password}`).toString('base64');
    const api = new AlertmanagerApi([url], { kind: 'basic', username: 'incident-bot', password }, 1_000);
    for (const quoted of [
      // lua-cjson writes "/" as "\/"; the rest is JSON's own escaping.
      JSON.stringify({ error: `bad password ${password}` }).replaceAll('/', '\\/'),
      JSON.stringify({ message: `refused Basic ${pair.slice(0, 20)}` }),
      `refused ${encodeURIComponent(password)}`,
    ]) {
      answer = (res) => res.writeHead(401).end(quoted);
      const { message } = await alertmanagerRejection(api.listSilences());
      expect(message).toContain('[REDACTED]');
      for (const secret of [password, pair, JSON.stringify(password).slice(1, -1)])
        expect(message, quoted).not.toContain(secret.slice(0, 12));
    }
  });

  it("knows Alertmanager 0.25's 'silence not found' whatever the password's words", async () => {
    answer = (res) => res.writeHead(500).end('"silence not found"');
    const api = new AlertmanagerApi([url], { kind: 'basic', username: 'bot', password: 'not' }, 1_000);
    const err = await alertmanagerRejection(api.expireSilence('0b0e5f1c-1111-4222-8333-944445555666'));
    expect(err.code).toBe('SILENCE_NOT_FOUND');
  });

  it('does not follow a redirect with its credentials', async () => {
    answer = (res) => res.writeHead(302, { location: 'http://example.invalid/steal' }).end();
    const err = await alertmanagerRejection(
      new AlertmanagerApi([url], { kind: 'bearer', token: 's3cret' }, 1_000).postSilence(silenceSpec()),
    );
    expect(err.code).toBe('ALERTMANAGER_UNREACHABLE');
  });

  it("takes Alertmanager 0.25's 500 for a DELETE of an unknown silence as not found, and tries no other peer", async () => {
    answer = (res) => res.writeHead(500).end('"silence not found"');
    seen.length = 0;
    const err = await alertmanagerRejection(
      new AlertmanagerApi([url, url], undefined, 1_000).expireSilence('0b0e5f1c-1111-4222-8333-944445555666'),
    );
    expect(err.code).toBe('SILENCE_NOT_FOUND');
    expect(seen).toHaveLength(1);
  });

  it('gives up on a peer that does not answer in time, and on a 5xx, and tries the next', async () => {
    answer = () => undefined; // never answers
    const silent = url;
    const failing = createServer((_req, res) => res.writeHead(503).end('{"message":"not ready"}'));
    await new Promise<void>((resolve) => failing.listen(0, '127.0.0.1', resolve));
    try {
      const failingUrl = `http://127.0.0.1:${(failing.address() as AddressInfo).port}/`;
      const err = await alertmanagerRejection(
        new AlertmanagerApi([silent, failingUrl], undefined, 300).listSilences(),
      );
      expect(err.code).toBe('ALERTMANAGER_UNREACHABLE');
      expect(err.message).toContain('timed out');
      expect(err.message).toContain('HTTP 503 not ready');
    } finally {
      failing.closeAllConnections();
      await new Promise<void>((resolve) => failing.close(() => resolve()));
      server.closeAllConnections();
    }
  });

  it("sends a silence's POST to no other peer once one may have received it: a timeout, a reset, a 5xx", async () => {
    // Servers of its own: a connection another test left pooled and its server closed would be reset.
    let lose: (res: import('node:http').ServerResponse) => void = () => undefined;
    const first = createServer((req, res) => {
      req.resume();
      req.on('end', () => lose(res));
    });
    await new Promise<void>((resolve) => first.listen(0, '127.0.0.1', resolve));
    const firstUrl = `http://127.0.0.1:${(first.address() as AddressInfo).port}/`;
    let reached = 0;
    const next = createServer((req, res) => {
      reached++;
      req.resume();
      res.end(JSON.stringify({ silenceID: '0b0e5f1c-1111-4222-8333-944445555666' }));
    });
    await new Promise<void>((resolve) => next.listen(0, '127.0.0.1', resolve));
    const nextUrl = `http://127.0.0.1:${(next.address() as AddressInfo).port}/`;
    try {
      const lost: Array<[string, (res: import('node:http').ServerResponse) => void, RegExp]> = [
        ['timeout', () => undefined, /timed out/],
        ['reset', (res) => res.socket?.destroy(), /UND_ERR_SOCKET|other side closed/],
        ['gateway', (res) => res.writeHead(504).end('<html>Gateway Time-out</html>'), /HTTP 504/],
        ['Alertmanager failing', (res) => res.writeHead(500).end('"internal error"'), /HTTP 500/],
      ];
      for (const [what, given, why] of lost) {
        lose = given;
        const err = await alertmanagerRejection(
          new AlertmanagerApi([firstUrl, nextUrl], undefined, 300).postSilence(silenceSpec()),
        );
        expect(err.code, what).toBe('ALERTMANAGER_OUTCOME_UNKNOWN');
        expect(err.message, what).toMatch(why);
      }
      // Before, each was sent again to the next peer, which made a second silence.
      expect(reached).toBe(0);
      // What a request cannot have reached still passes to the next peer; so does any other call.
      const closed = `http://127.0.0.1:${await unusedPort()}/`;
      await new AlertmanagerApi([closed, nextUrl], undefined, 300).postSilence(silenceSpec());
      lose = (res) => res.writeHead(302, { location: 'http://example.invalid/login' }).end();
      await new AlertmanagerApi([firstUrl, nextUrl], undefined, 300).postSilence(silenceSpec());
      lose = () => undefined;
      await new AlertmanagerApi([firstUrl, nextUrl], undefined, 300).expireSilence(
        '0b0e5f1c-1111-4222-8333-944445555666',
      );
      expect(reached).toBe(3);
    } finally {
      for (const peer of [first, next]) {
        peer.closeAllConnections();
        await new Promise<void>((resolve) => peer.close(() => resolve()));
      }
    }
  });

  it("takes a 404 that is not Alertmanager's for a failed peer and tries the next; only Alertmanager's own says a silence is unknown", async () => {
    const ingress = createServer((req, res) => {
      req.resume();
      // A base path that names no Alertmanager gets its router's JSON 404, not a silence's.
      if (req.url?.startsWith('/wrong/')) {
        res.writeHead(404, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ code: 404, message: `path ${req.url} was not found` }));
        return;
      }
      res
        .writeHead(404, { 'content-type': 'text/html' })
        .end('<html><body>default backend - 404</body></html>');
    });
    const peer = createServer((req, res) => {
      req.resume();
      // As Alertmanager 0.25: a DELETE is done, a GET of an unknown silence is a 404 with no body.
      res.writeHead(req.method === 'DELETE' ? 200 : 404).end();
    });
    for (const s of [ingress, peer]) await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
    const at = (s: Server, path = '/') => `http://127.0.0.1:${(s.address() as AddressInfo).port}${path}`;
    const id = '0b0e5f1c-1111-4222-8333-944445555666';
    try {
      for (const front of [at(ingress), at(ingress, '/wrong/')]) {
        // Before: SILENCE_NOT_FOUND from the first, and Unsilence recorded a silence lifted that was not.
        await new AlertmanagerApi([front, at(peer)], undefined, 1_000).expireSilence(id);
        const unknown = await alertmanagerRejection(
          new AlertmanagerApi([front, at(peer)], undefined, 1_000).getSilence(id),
        );
        expect(unknown.code).toBe('SILENCE_NOT_FOUND');
        const alone = await alertmanagerRejection(
          new AlertmanagerApi([front], undefined, 1_000).getSilence(id),
        );
        expect(alone.code).toBe('ALERTMANAGER_UNREACHABLE');
        expect(alone.message).toContain('HTTP 404');
      }
    } finally {
      for (const s of [ingress, peer]) {
        s.closeAllConnections();
        await new Promise<void>((resolve) => s.close(() => resolve()));
      }
    }
  });
});

/**
 * A peer whose connection never completes: for https, a listener that takes the TCP connection and never
 * answers the TLS handshake, so no byte of a request is ever sent (as with a host that drops packets).
 */
async function connectionNeverCompleting(): Promise<{ url: string; stop: () => void }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((socket) => sockets.add(socket));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `https://127.0.0.1:${port}/`,
    stop: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
