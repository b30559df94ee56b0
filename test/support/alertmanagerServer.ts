import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AlertmanagerStandIn } from '../../src/sandbox/alertmanagerStandIn.js';

/** The sandbox's Alertmanager stand-in served over HTTP, for the bot's silences; each answer after `delayMs`. */
export async function serveAlertmanagerStandIn(delayMs = 0): Promise<{ url: string; server: Server }> {
  const standIn = new AlertmanagerStandIn();
  const server = createServer((req, res) => {
    let raw = '';
    req.on('data', (chunk: Buffer) => {
      raw += chunk.toString();
    });
    req.on('end', () => {
      setTimeout(() => {
        const path = (req.url ?? '/').split('?')[0]!.slice(1);
        const answer = standIn.answer(req.method ?? 'GET', path, raw ? JSON.parse(raw) : undefined);
        res.writeHead(answer.status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(answer.body));
      }, delayMs);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}
