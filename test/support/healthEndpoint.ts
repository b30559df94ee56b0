import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { waitFor, waitForQueueIdle } from './services.js';
import { DEFAULT_TEST_CONFIG, type TestBot } from './testBot.js';

/** A service's HTTP health endpoint that is healthy: it answers `{"status":"ok"}` on every path. */
export async function startHealthyEndpoint(): Promise<{ url: string; close: () => void }> {
  const server = createServer((_req, res) => res.end(JSON.stringify({ status: 'ok' })));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/health`, close: () => server.close() };
}

/** The tests' config with payments-api checked once (`health`) at `url`; `more` (YAML) follows. */
export const paymentsApiChecked = (url: string, more = '') => `${DEFAULT_TEST_CONFIG}
services:
  payments-api: { checks: [{ name: health, kind: http, url: '${url}' }] }
${more}`;

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

/**
 * Resolves once every requested health check's result is posted (its health_requests row is gone with the
 * post's recording) or given up and who asked told, and the health queue is idle: nothing more of theirs
 * will be posted.
 */
export async function healthResultsSettled(bot: TestBot): Promise<void> {
  await waitFor(
    async () =>
      (await bot.app.pool.query('SELECT 1 FROM health_requests WHERE given_up_told_at IS NULL')).rows
        .length === 0,
    20_000,
    'the requested health checks to be posted',
  );
  await waitForQueueIdle(bot.app.health);
}
