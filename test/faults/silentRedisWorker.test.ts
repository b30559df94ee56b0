import { afterEach, describe, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { type ChildBot, startChild, stopChild } from '../support/childWorker.js';
import { waitFor } from '../support/services.js';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

/**
 * `incident-bot worker` whose connections to Redis go silent for good (nothing comes back on them, as when a
 * NAT forgets the flow), while new connections are served: it must find them gone and take jobs again.
 */
describe('a worker whose Redis connections go silent', () => {
  let bot: TestBot | undefined;
  let child: ChildBot | undefined;
  let proxy: TcpProxy | undefined;
  afterEach(async () => {
    if (child) await stopChild(child.process, 'SIGKILL');
    await proxy?.close();
    await bot?.stop();
  });

  it('connects again and shows in Slack what fired after', async () => {
    bot = await startTestBot({ worker: false });
    const target = new URL(bot.env.REDIS_URL!);
    proxy = await startTcpProxy(target.hostname, Number(target.port));
    const proxied = new URL(target);
    proxied.host = `127.0.0.1:${proxy.port}`;
    child = await startChild(bot, ['worker'], { REDIS_URL: proxied.toString() });
    const shown = (group: string) =>
      bot!.slack.emulator
        .channelMessages('C0PAYMENTS')
        .some((m) => !m.threadTs && JSON.stringify(m.blocks).includes(group));
    await bot.deliver(payload({ group: 'BeforeSilence', alerts: [{ instance: 'pod-1' }] }));
    await waitFor(() => shown('BeforeSilence'), 30_000, 'the first incident in Slack');

    proxy.silenceOpen();
    // Ingested by the test's own bot, whose Redis is not behind the proxy: only the worker's sync is left.
    await bot.deliver(payload({ group: 'AfterSilence', alerts: [{ instance: 'pod-1' }] }));
    // Within a minute: the silence is found after REDIS_SILENT_MS (20 s); never, before.
    await waitFor(() => shown('AfterSilence'), 60_000, 'the incident that fired after the silence, in Slack');
  }, 120_000);
});
