import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A service's HTTP health endpoint that is healthy: it answers `{"status":"ok"}` on every path. */
export async function startHealthyEndpoint(): Promise<{ url: string; close: () => void }> {
  const server = createServer((_req, res) => res.end(JSON.stringify({ status: 'ok' })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/health`, close: () => server.close() };
}

/**
 * The start of a catalog whose payments-api is checked at `healthUrl` (its health-endpoint check): the
 * service's actions follow, indented as list items of `actions:`.
 */
export function paymentsApiCatalog(healthUrl: string): string {
  return `services:
  payments-api:
    checks:
      - { name: health-endpoint, kind: http, url: '${healthUrl}', expectJson: { status: ok } }
    actions:
`;
}
