import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { waitFor } from '../support/services.js';
import { slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

const SILENCE_ID = '0b0e5f1c-1111-4222-8333-944445555666';

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/**
 * A command whose work outlasts Slack's 3 s (here a silence, waiting for a slow Alertmanager) is
 * acknowledged in time, and its answer follows on the command's response_url.
 */
describe('a /incident command still working when its acknowledgement is due', () => {
  let bot: TestBot;
  let alertmanager: Server;
  let hooks: Server;
  let hooksUrl: string;
  const answers: unknown[] = [];
  const lines: string[] = [];
  beforeAll(async () => {
    // An Alertmanager that takes 4 s to create a silence.
    alertmanager = createServer((req, res) => {
      req.resume();
      if (req.method === 'GET') return void res.end('[]');
      setTimeout(() => res.end(JSON.stringify({ silenceID: SILENCE_ID })), 4_000);
    });
    const alertmanagerUrl = await listen(alertmanager);
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        answers.push(JSON.parse(body));
        res.end('ok');
      });
    });
    hooksUrl = `${await listen(hooks)}/commands/1`;
    bot = await startTestBot({
      configYaml: `${DEFAULT_TEST_CONFIG}alertmanager:\n  urls: ['${alertmanagerUrl}']\n  timeout: 10s\n`,
      logTo: { write: (line: string) => void lines.push(line) },
    });
  });
  afterAll(async () => {
    await bot?.stop();
    alertmanager?.closeAllConnections();
    alertmanager?.close();
    hooks?.close();
  });

  it('is acknowledged within Slack’s deadline, then answered on its response_url', async () => {
    const res = await bot.deliver(payload({ group: 'SlowSilence', alerts: [{ instance: 'a' }] }));
    const { incident } = (await jsonOf(res)) as { incident: string };
    const ack = await slashCommand(bot, `silence ${incident} 1h deploying`, { responseUrl: hooksUrl });
    expect(ack).toMatchObject({ status: 200, text: 'Working on it: the answer follows here.' });
    const [answer] = await waitFor(
      () => (answers.length > 0 ? answers : undefined),
      20_000,
      'the late answer',
    );
    expect(answer).toMatchObject({ response_type: 'ephemeral' });
    expect(JSON.stringify(answer)).toContain('Silenced');
  });

  it('gives up on a response_url that never answers, saying so, rather than hold its handler', async () => {
    const silent = createServer(() => {});
    const silentUrl = `${await listen(silent)}/commands/2`;
    try {
      const res = await bot.deliver(payload({ group: 'SlowSilenceUnheard', alerts: [{ instance: 'a' }] }));
      const { incident } = (await jsonOf(res)) as { incident: string };
      const ack = await slashCommand(bot, `silence ${incident} 1h deploying`, { responseUrl: silentUrl });
      expect(ack.text).toBe('Working on it: the answer follows here.');
      await waitFor(
        () => lines.some((line) => line.includes("the command's late answer did not reach its response_url")),
        30_000,
        'the answer given up',
      );
      await bot.app.slackHandlersIdle();
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('tells on its response_url of a form that did not open, the command being acknowledged', async () => {
    const declared = await slashCommand(bot, 'declare P2 The form will not open');
    const ref = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    bot.slack.emulator.failNext('views.open', { error: 'expired_trigger_id' });
    const ack = await slashCommand(bot, `update ${ref}`, { responseUrl: hooksUrl });
    expect(ack).toMatchObject({ status: 200, text: '' });
    const told = await waitFor(
      () => answers.find((answer) => JSON.stringify(answer).includes('Something went wrong')),
      20_000,
      'the answer that the form did not open',
    );
    expect(told).toMatchObject({ response_type: 'ephemeral' });
  });
});
