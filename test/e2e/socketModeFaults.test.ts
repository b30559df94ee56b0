import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterEach, describe, expect, it } from 'vitest';
import { INCIDENT_HELP } from '../../src/commands/incidentCommand.js';
import { SOCKET_MODE_RETRY_MAX_MS } from '../../src/listeners/socketMode.js';
import { settledWithin } from '../../src/primitives/withTimeout.js';
import type { SlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { SLACK_CALL_TIMEOUT_MS } from '../../src/slack/slackApi.js';
import { waitFor, waitForLockWaiters } from '../support/services.js';
import { slashCommandFields } from '../support/slackRequests.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const SOCKET_MODE = { SLACK_APP_TOKEN: TEST_SECRETS.appToken, SLACK_SIGNING_SECRET: '' };

let bot: TestBot | undefined;
afterEach(async () => {
  await bot?.stop();
  bot = undefined;
});

/** Slack asks the bot to reconnect, and holds the bot's apps.connections.open unanswered. */
async function refreshHoldingOpen(emulator: SlackEmulator): Promise<{ release: () => void }> {
  const open = emulator.hold('apps.connections.open');
  emulator.socketMode.refresh();
  await open.reached;
  return open;
}

/**
 * Reconnected, and answering over the new socket: a bot stopped before Slack's hello reaches it
 * leaves the Socket Mode client's own promise rejected, which is not what these tests look at.
 */
async function answeringAgain(emulator: SlackEmulator, within: number): Promise<void> {
  // The socket the bot started with, and the one it reconnected with, alone open.
  await waitFor(
    () => emulator.socketMode.opened === 2 && emulator.socketMode.connections === 1,
    within,
    'reconnected',
  );
  const answer = await emulator.socketMode.deliver('slash_commands', slashCommandFields('help'));
  expect(answer.text).toBe(INCIDENT_HELP);
}

describe('Socket Mode when Slack recycles the connection', () => {
  it('opens no socket once stopped, even when the reconnection was under way', async () => {
    bot = await startTestBot({ env: SOCKET_MODE });
    const { emulator } = bot.slack;
    // The bot's apps.connections.open is still unanswered when it stops.
    const open = await refreshHoldingOpen(emulator);
    // The old socket's close ends as the bot asks for a new one.
    await waitFor(() => emulator.socketMode.connections === 0, 5_000, 'the old socket closed');
    const stopped = bot.app.stop();
    open.release();
    await stopped;
    // The URL it was given was used, or not, by now: either way no socket stays open.
    await waitFor(() => emulator.socketMode.opened === 2, 20_000, 'the late connection');
    await waitFor(() => emulator.socketMode.connections === 0, 20_000, 'no socket open after stop');
  });

  it('asks Slack for a new connection every few seconds however long Slack fails it', async () => {
    bot = await startTestBot({ env: SOCKET_MODE });
    const { emulator } = bot.slack;
    const attempts: number[] = [];
    emulator.onCall((call) => {
      if (call.method === 'apps.connections.open') attempts.push(call.at);
    });
    emulator.failNext('apps.connections.open', { status: 503 }, 9);
    emulator.socketMode.refresh();
    await answeringAgain(emulator, 120_000);
    expect(attempts.length).toBe(10);
    const gaps = attempts.slice(1).map((at, i) => at - attempts[i]!);
    // The waits grow to SOCKET_MODE_RETRY_MAX_MS and no further: a long outage is not followed by a long silence.
    expect(Math.max(...gaps)).toBeLessThan(SOCKET_MODE_RETRY_MAX_MS + 1500);
  });

  it('asks for a new connection as soon as Slack recycles the old one', async () => {
    bot = await startTestBot({ env: SOCKET_MODE });
    const { emulator } = bot.slack;
    const asked = new Promise<number>((resolve) =>
      emulator.onCall((call) => {
        if (call.method === 'apps.connections.open') resolve(call.at);
      }),
    );
    const recycled = Date.now();
    emulator.socketMode.refresh();
    // The Socket Mode client's own reconnection waited its ping timeout, 5 s, deaf meanwhile.
    expect((await asked) - recycled).toBeLessThan(2_000);
    await answeringAgain(emulator, 20_000);
  });

  it('gives up on a socket Slack never greets, and opens another', async () => {
    bot = await startTestBot({ env: SOCKET_MODE });
    const { emulator } = bot.slack;
    emulator.socketMode.withholdNextHello = true;
    emulator.socketMode.refresh();
    await waitFor(
      () => emulator.socketMode.opened === 3 && emulator.socketMode.connections === 1,
      30_000,
      'a greeted socket after the silent one',
    );
    const answer = await emulator.socketMode.deliver('slash_commands', slashCommandFields('help'));
    expect(answer.text).toBe(INCIDENT_HELP);
  });

  it('reconnects after Slack failed, then refused the app token on a reconnection, saying so meanwhile', async () => {
    const lines: string[] = [];
    bot = await startTestBot({ env: SOCKET_MODE, logTo: { write: (line: string) => lines.push(line) } });
    const { emulator } = bot.slack;
    emulator.failNext('apps.connections.open', { error: 'internal_error' });
    emulator.failNext('apps.connections.open', { error: 'invalid_auth' });
    emulator.socketMode.refresh();
    await answeringAgain(emulator, 60_000);
    expect(lines.filter((l) => l.includes('Slack refused to reconnect Socket Mode'))).toHaveLength(1);
  });

  it('gives up on an apps.connections.open that Slack never answers, and asks again', async () => {
    bot = await startTestBot({ env: SOCKET_MODE });
    const { emulator } = bot.slack;
    const hung = await refreshHoldingOpen(emulator);
    try {
      await answeringAgain(emulator, SLACK_CALL_TIMEOUT_MS + SOCKET_MODE_RETRY_MAX_MS + 10_000);
    } finally {
      hung.release();
    }
  });

  it.each([
    ['no socket is open yet', false],
    ['another socket has opened since', true],
  ])(
    "gives a command's answer on its response_url when the socket it came by closed before its acknowledgement, and %s",
    async (_, reopened) => {
      const answers: Array<Record<string, unknown>> = [];
      const hooks: Server = createServer((req, res) => {
        let body = '';
        req.on('data', (chunk: Buffer) => (body += chunk.toString()));
        req.on('end', () => {
          answers.push(JSON.parse(body));
          res.end('ok');
        });
      });
      await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
      const responseUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/commands/1`;
      let held: pg.Client | undefined;
      try {
        bot = await startTestBot({ env: SOCKET_MODE });
        const { emulator } = bot.slack;
        // A declare held up by PostgreSQL (a long migration, say) while Slack recycles the connection.
        held = new pg.Client({ connectionString: bot.database.url });
        await held.connect();
        await held.query('BEGIN');
        await held.query('LOCK TABLE incidents IN EXCLUSIVE MODE');
        const acked = emulator.socketMode.deliver(
          'slash_commands',
          slashCommandFields('declare P1 Checkout is failing', { responseUrl }),
        );
        await waitForLockWaiters(bot.app.pool, 1, 'the declare waiting');
        const open = await refreshHoldingOpen(emulator);
        if (reopened) {
          open.release();
          await waitFor(
            () => emulator.socketMode.opened === 2 && emulator.socketMode.connections === 1,
            20_000,
            'reconnected',
          );
        }
        await held.query('COMMIT');
        // Declared: the person is told so, as Slack could not be told in the acknowledgement.
        const declared = await waitFor(
          () => answers.find((a) => /Declared INC-\d+/.test(String(a.text))),
          20_000,
          "the declare's answer",
        ).catch((err) => {
          throw new Error(`${(err as Error).message}; answered: ${JSON.stringify(answers)}`);
        });
        expect(declared.response_type).toBe('ephemeral');
        // Acknowledged, empty, down the new socket, should Slack count that: no error shown beside the answer.
        if (reopened) expect(await settledWithin(acked, 5_000)).toEqual({});
        expect(answers.filter((a) => /went wrong/i.test(String(a.text)))).toEqual([]);
        const { rows } = await bot.app.pool.query('SELECT count(*)::int AS n FROM incidents');
        expect(rows[0].n).toBe(1);
        open.release();
        await answeringAgain(emulator, 20_000);
      } finally {
        await held?.end();
        hooks.close();
      }
    },
  );
});
