import { afterEach, describe, expect, it } from 'vitest';
import { type ChildBot, stopChild } from '../support/childWorker.js';
import { type Store, serveBehindProxy } from '../support/storeCut.js';
import type { TcpProxy } from '../support/tcpProxy.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

/** Prometheus's default scrape_timeout: a scrape answered later counts as none (`up` 0, every series gone). */
const SCRAPE_TIMEOUT_MS = 10_000;

/**
 * PostgreSQL or Redis gone silent under `incident-bot serve`: the connections stay open and nothing comes
 * back (a NAT that forgot the flow, some failovers), which TCP notices only hours later. The probes and
 * the scrape must still answer, saying what they could not read.
 */
describe('probes and scrapes while a store is silent', () => {
  let bot: TestBot | undefined;
  let served: { child: ChildBot; proxy: TcpProxy; url: string } | undefined;
  afterEach(async () => {
    if (served) {
      await stopChild(served.child.process, 'SIGKILL');
      await served.proxy.close();
    }
    await bot?.stop();
    served = bot = undefined;
  });

  const within = (url: string) =>
    fetch(url, { signal: AbortSignal.timeout(SCRAPE_TIMEOUT_MS) }).then(
      async (res) => ({ status: res.status, text: await res.text() }),
      (err: Error) => ({ status: 0, text: err.name }),
    );

  const cases: Array<[Store, string, RegExp]> = [
    ['postgres', 'PostgreSQL', /^incident_bot_open_incidents\{/m],
    ['redis', 'Redis', /^incident_bot_queue_jobs\{/m],
  ];
  for (const [store, name, gauge] of cases) {
    it(`answers /metrics without what ${name} would tell, and /readyz 503 naming it`, async () => {
      bot = await startTestBot({ worker: false });
      served = await serveBehindProxy(bot, store);
      const { proxy, url } = served;
      expect((await within(`${url}/metrics`)).text).toMatch(gauge);

      proxy.silence();
      const scrape = await within(`${url}/metrics`);
      expect(scrape.status, scrape.text).toBe(200);
      expect(scrape.text).not.toMatch(gauge);
      // What the bot counts itself is still there to see.
      expect(scrape.text).toMatch(/^incident_bot_process_cpu_seconds_total /m);
      expect(await within(`${url}/readyz`)).toEqual({
        status: 503,
        text: JSON.stringify({ status: 'not ready', reason: `${name} is not answering` }),
      });
    });
  }
});
