import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, waitFor } from '../support/services.js';
import { slashCommand } from '../support/slackRequests.js';
import { startTcpProxy, type TcpProxy } from '../support/tcpProxy.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

const WORKING = 'Working on it: the answer follows here.';
const NOT_ANSWERING = /^The database \(PostgreSQL\) is not answering right now\./;
/** What a command waiting on the pool's clients behind the silent ones may be told instead: nothing written. */
const TOO_BUSY = /^The bot is too busy to answer right now/;

/**
 * PostgreSQL's connections gone silent under `serve` (a NAT that forgot the flows; new connections still go
 * through): a command given a silent connection is told, once the requests' pool gives up on it, that the
 * database did not answer, and nothing it was told failed is written after; the commands after it are
 * served on new connections. Before, it never heard more than "Working on it", and its client was held
 * until TCP gave up, hours later.
 */
describe('PostgreSQL connections gone silent under the bot', () => {
  let proxy: TcpProxy;
  let bot: TestBot;
  let hooks: Server;
  let hooksUrl: string;
  const answers = new Map<string, string>();
  const lines: string[] = [];
  beforeAll(async () => {
    hooks = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString()));
      req.on('end', () => {
        answers.set(req.url!, (JSON.parse(body) as { text: string }).text);
        res.end('ok');
      });
    });
    await new Promise<void>((resolve) => hooks.listen(0, '127.0.0.1', resolve));
    hooksUrl = `http://127.0.0.1:${(hooks.address() as AddressInfo).port}`;
    const database = await createTestDatabase();
    const url = new URL(database.url);
    proxy = await startTcpProxy(url.hostname, Number(url.port));
    url.host = `127.0.0.1:${proxy.port}`;
    // The stop gives the work still waiting on silent connections a second, not the default half minute.
    bot = await startTestBot({
      database,
      env: { DATABASE_URL: url.toString(), SHUTDOWN_TIMEOUT: '1s' },
      logTo: { write: (line: string) => void lines.push(line) },
    });
  });
  afterAll(async () => {
    await bot?.stop();
    await proxy?.close();
    hooks?.close();
  });

  it('tells a command whose statement waits on a lock past the statement timeout it failed, and it never lands', async () => {
    const holder = new pg.Client({ connectionString: bot.database.url });
    await holder.connect();
    try {
      await holder.query('BEGIN; LOCK TABLE incidents IN EXCLUSIVE MODE');
      const ack = await slashCommand(bot, 'declare P3 Behind a lock', {
        responseUrl: `${hooksUrl}/commands/locked`,
      });
      expect(ack.text).toBe(WORKING);
      const answer = await waitFor(() => answers.get('/commands/locked'), 20_000, 'the late answer');
      expect(answer).toMatch(NOT_ANSWERING);
      // PostgreSQL ended it (query_canceled, by the statement timeout), before the client gave up on it.
      expect(
        lines.some((line) => line.includes('"code":"57014"') && line.includes('a store is unreachable')),
      ).toBe(true);
      await holder.query('COMMIT');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const { rows } = await holder.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM incidents WHERE title = 'Behind a lock'",
      );
      expect(rows[0]!.n).toBe(0);
    } finally {
      await holder.end();
    }
  }, 30_000);

  it('tells a command on a silent connection the database did not answer, writes nothing it was told failed, and serves the next', async () => {
    // Connections opened and idle in the requests' pool, as after a busy minute.
    const before = await Promise.all(
      Array.from({ length: 6 }, (_, i) => slashCommand(bot, `declare P3 Before the silence ${i}`)),
    );
    expect(before.every((answer) => /^Declared INC-\d+/.test(answer.text))).toBe(true);
    proxy.silenceOpen();

    const during = await Promise.all(
      Array.from({ length: 10 }, (_, i) =>
        slashCommand(bot, `declare P3 During the silence ${i}`, { responseUrl: `${hooksUrl}/commands/${i}` }),
      ),
    );
    const told = await waitFor(
      () => {
        const outcomes = during.map((ack, i) =>
          ack.text === WORKING ? answers.get(`/commands/${i}`) : ack.text,
        );
        return outcomes.every((text) => text !== undefined) ? (outcomes as string[]) : undefined;
      },
      30_000,
      'every command answered',
    );
    const failed = told.filter((text) => NOT_ANSWERING.test(text) || TOO_BUSY.test(text));
    // At least the command given the connection it was last served on; all told one or the other.
    expect(told.some((text) => NOT_ANSWERING.test(text))).toBe(true);
    expect(failed.length + told.filter((text) => /^Declared INC-\d+/.test(text)).length).toBe(told.length);

    // After the statement timeout, nothing it was told failed has been written.
    const direct = new pg.Client({ connectionString: bot.database.url });
    await direct.connect();
    try {
      await new Promise((resolve) => setTimeout(resolve, 1000));
      const { rows } = await direct.query<{ n: number }>(
        "SELECT count(*)::int AS n FROM incidents WHERE title LIKE 'During the silence%'",
      );
      expect(rows[0]!.n).toBe(told.length - failed.length);
    } finally {
      await direct.end();
    }

    const after = await slashCommand(bot, 'declare P3 After the silence');
    expect(after.text).toMatch(/^Declared INC-\d+/);
  }, 60_000);
});
