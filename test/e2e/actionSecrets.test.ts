import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/services.js';
import { clickOn, messageOf, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const RECORDER = new URL('../fixtures/record-run.mjs', import.meta.url).pathname;
const LEAKY = new URL('../fixtures/leaky-migrate.mjs', import.meta.url).pathname;
const MIGRATOR_PASSWORD = 'Tr0ub4dor-and-3';
const DEPLOY_TOKEN = 'dpl_live_5f4dcc3b5aa765d61d83';

const catalogYaml = () => `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    actions:
      - name: rollout-undo
        description: Roll a deployment back
        kind: rollback
        driver: { type: command, argv: [node, ${RECORDER}, rollout, undo, '{{target}}'], env: { allow: [RUN_LOG] } }
        params: { target: { type: string } }
        approval: { approvers: [U0BOB], required: 1 }
      - name: migrate-back
        description: Roll the last migration back
        kind: rollback
        driver:
          type: command
          argv: [node, ${LEAKY}, run, '${TEST_SECRETS.botToken}']
          dryRunArgv: [node, ${LEAKY}, dry-run]
          env: { allow: [MIGRATOR_PASSWORD, DEPLOY_ENV, { name: DEPLOY_TOKEN, secret: true }] }
        dryRun: true
        approval: { approvers: [U0BOB], required: 1 }
`;

describe('params stay data, secrets stay out of Slack', () => {
  let bot: TestBot;
  let runLog: string;
  beforeAll(async () => {
    runLog = join(await mkdtemp(join(tmpdir(), 'action-secrets-')), 'runs.jsonl');
    await writeFile(runLog, '');
    Object.assign(process.env, { RUN_LOG: runLog, MIGRATOR_PASSWORD, DEPLOY_TOKEN, DEPLOY_ENV: 'prod' });
    bot = await startTestBot({ configYaml: catalogYaml() });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const action = (text: string) => slashCommand(bot, text, { command: '/action', user: SRE.alice });
  const requestCount = async () =>
    (await bot.app.pool.query('SELECT count(*)::int AS n FROM action_requests')).rows[0].n;

  it('refuses a param that would reach the program as an option, and writes nothing', async () => {
    const answer = await action('rollout-undo payments-api target=--kubeconfig=/tmp/x');
    expect(answer.responseType).toBe('ephemeral');
    expect(answer.text).toContain('target may not start with "-": the command would take it for an option');
    expect(answer.text).toContain('/action rollout-undo payments-api target=<text>');
    expect(await requestCount()).toBe(0);
    expect(await readFile(runLog, 'utf8')).toBe('');
  });

  it('shows and stores what a script prints with its passwords, secret env values and the bot token hidden', async () => {
    const declared = await slashCommand(bot, 'declare P2 Migration broke checkout', { user: SRE.alice });
    expect(declared.text).toMatch(/Declared INC-\d+/);
    const answer = await action('migrate-back payments-api');
    const id = /Requested ACT-(\d+)/.exec(answer.text)?.[1];
    expect(id, answer.text).toBeDefined();
    const dryRun = async (): Promise<string | undefined> =>
      (await bot.app.pool.query('SELECT dry_run_output FROM action_requests WHERE id = $1', [Number(id)]))
        .rows[0].dry_run_output ?? undefined;
    await waitFor(dryRun, 20_000, 'the dry run');
    expect(await dryRun()).toContain('postgres://migrator:[redacted]@db.internal:5432/metasheet');
    expect(await dryRun()).toContain('auth: Bearer [redacted] for prod; again [redacted]');

    await messageOf(bot, 'request', id!);
    await clickOn(bot, 'request', id!, 'action_approve', { user: SRE.bob });
    const row = async () =>
      (
        await bot.app.pool.query('SELECT status, summary, output FROM action_requests WHERE id = $1', [
          Number(id),
        ])
      ).rows[0];
    await waitFor(async () => (await row()).status === 'failed', 20_000, 'the run to fail');
    expect((await row()).summary).toBe('node exited 1: push refused for token [redacted]');
    expect((await row()).output).toContain(`slack: [redacted]`);
    const shown = () => JSON.stringify(bot.slack.emulator.allMessages());
    await waitFor(
      () => shown().includes('push refused for token [redacted]'),
      20_000,
      'the outcome in Slack',
    );
    expect(shown()).toContain('postgres://migrator:[redacted]@db.internal');

    // Every call to Slack but the token it is made with.
    const sent = bot.slack.emulator.calls.map(({ params: { token: _, ...params } }) => params);
    const everything = `${JSON.stringify(sent)}\n${await databaseText(bot)}`;
    expect(everything).toContain('Bearer [redacted]');
    for (const secret of [MIGRATOR_PASSWORD, DEPLOY_TOKEN, TEST_SECRETS.botToken])
      expect(everything).not.toContain(secret);
  });
});

/** Every row of every table of the bot's database, as text. */
async function databaseText(bot: TestBot): Promise<string> {
  const { rows: tables } = await bot.app.pool.query<{ name: string }>(
    "SELECT quote_ident(tablename) AS name FROM pg_tables WHERE schemaname = 'public'",
  );
  const texts = await Promise.all(
    tables.map(async ({ name }) => {
      const { rows } = await bot.app.pool.query(`SELECT t::text AS row FROM ${name} t`);
      return rows.map((r) => r.row).join('\n');
    }),
  );
  return texts.join('\n');
}
