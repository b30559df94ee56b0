import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * A path to an Alertmanager at `target` that passes every request on at once and, for those `lose`
 * picks (by method and path, e.g. `GET /api/v2/silences`), loses the answer once the target has given
 * it: the connection is dropped (`reset`), or a gateway's 502 comes back instead. A peer that took the
 * request but whose answer never came back, with no clock involved: the target has always acted before
 * the loss.
 */
export async function answerLostPath(
  target: string,
  lose: (method: string, path: string) => boolean,
  as: 'reset' | 502 = 'reset',
): Promise<{ url: string; server: Server; passed: string[] }> {
  const passed: string[] = [];
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
    });
    req.on('end', async () => {
      passed.push(`${req.method} ${req.url}`);
      const answer = await fetch(new URL(req.url!.slice(1), target), {
        method: req.method,
        headers: { 'content-type': 'application/json' },
        body: raw || undefined,
      });
      const text = await answer.text();
      if (!lose(req.method ?? 'GET', req.url ?? '/')) {
        res.writeHead(answer.status, { 'content-type': 'application/json' }).end(text);
      } else if (as === 'reset') {
        req.socket.destroy();
      } else {
        res.writeHead(502, { 'content-type': 'text/html' }).end('<html><body>502 Bad Gateway</body></html>');
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server, passed };
}
