import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase, waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * The runbooks, run through the bot: a health check of a target database, the manual roll-back of
 * Migration 048 (dry run first, then for real, then applied again cleanly), and degradation mode with its
 * reminder until it is turned off.
 */
const MIGRATION = new URL('../fixtures/migrations/048_create_event_bus_tables.sql', import.meta.url).pathname;
const RECORDER = new URL('../fixtures/record-run.mjs', import.meta.url).pathname;

const config = `${DEFAULT_TEST_CONFIG}
incidents:
  createChannel: true
actions:
  degradationReminderAfter: 2s
services:
  metasheet-backend:
    checks:
      - name: database
        kind: postgres
        connectionEnv: METASHEET_DATABASE_URL
        expectedHead: 048_create_event_bus_tables.sql
        requiredTables: [event_types, event_subscriptions, event_store]
    actions:
      - name: rollback-migration
        description: Drop Migration 048's tables and forget it, as the runbook's manual roll-back
        kind: rollback
        dryRun: true
        driver:
          type: sql
          connectionEnv: METASHEET_DATABASE_URL
          statements:
            - DROP TABLE IF EXISTS event_store CASCADE
            - DROP TABLE IF EXISTS event_subscriptions CASCADE
            - DROP TABLE IF EXISTS event_types CASCADE
            - DELETE FROM schema_migrations WHERE filename = {{migration}}
        params: { migration: { type: string, pattern: '[0-9]{3}_[a-z0-9_]+[.]sql' } }
        approval: { approvers: [U0BOB], required: 1 }
      - name: enable-degradation
        description: EVENT_BUS_OPTIONAL=1 and restart (emergency only)
        kind: degradation
        degradation: enable
        driver: { type: command, argv: [node, ${RECORDER}, enable-degradation], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1 }
      - name: disable-degradation
        description: Back to normal
        kind: degradation
        degradation: disable
        driver: { type: command, argv: [node, ${RECORDER}, disable-degradation], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1 }
`;

describe('the runbooks through the bot', () => {
  let target: TestDatabase;
  let targetPool: pg.Pool;
  let bot: TestBot;
  let channel: string;
  let rootTs: () => string;

  beforeAll(async () => {
    target = await createTestDatabase();
    targetPool = new pg.Pool({ connectionString: target.url });
    await targetPool.query(
      'CREATE TABLE schema_migrations (filename text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
    );
    await targetPool.query(await readFile(MIGRATION, 'utf8'));
    const runLog = join(await mkdtemp(join(tmpdir(), 'runbooks-')), 'runs.jsonl');
    await writeFile(runLog, '');
    process.env.RUN_LOG = runLog;
    process.env.METASHEET_DATABASE_URL = target.url;
    bot = await startTestBot({ configYaml: config });
    const declared = await slashCommand(bot, 'declare P1 Event bus migration broke the backend', {
      channel: 'C0RANDOM2',
    });
    const ref = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    channel = (
      await waitFor(
        () => bot.slack.emulator.channels().find((c) => c.name.includes('event-bus-migration')),
        20_000,
        'channel',
      )
    ).id;
    const root = await waitFor(
      () =>
        bot.slack.emulator
          .channelMessages(channel)
          .find((m) => JSON.stringify(m.blocks).includes(`${ref} ·`)),
      20_000,
      'root',
    );
    rootTs = () => root.ts;
  });
  afterAll(async () => {
    await bot?.stop();
    await targetPool?.end();
    await target?.drop();
  });

  const thread = () => JSON.stringify(bot.slack.emulator.threadOf(channel, rootTs()).map((m) => m.blocks));
  const tables = async () =>
    (
      await targetPool.query(
        "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename LIKE 'event_%' ORDER BY 1",
      )
    ).rows.map((r) => r.tablename);
  const migrations = async () =>
    (await targetPool.query('SELECT filename FROM schema_migrations')).rows.map((r) => r.filename);
  const healthResults = () =>
    bot.slack.emulator
      .allMessages()
      .filter((m) => m.channel === channel && JSON.stringify(m.blocks).includes('Health checks'));
  const health = async () => {
    const before = healthResults().length;
    await slashCommand(bot, 'metasheet-backend', { channel, command: '/health' });
    const result = await waitFor(() => healthResults()[before], 20_000, 'health result');
    return JSON.stringify(result.blocks);
  };
  const act = async (text: string) => {
    const answer = await slashCommand(bot, text, { channel, command: '/action', user: SRE.alice });
    const id = /Requested ACT-(\d+)/.exec(answer.text)?.[1];
    if (!id) throw new Error(answer.text);
    return id;
  };
  const requestMessage = (id: string) =>
    bot.slack.emulator.allMessages().find((m) => JSON.stringify(m.blocks).includes(`*ACT-${id} ·`));
  const statusOf = async (id: string) =>
    (await bot.app.pool.query('SELECT status FROM action_requests WHERE id = $1', [Number(id)])).rows[0]
      .status;

  it('rehearses the roll-back of Migration 048: health, dry run, approval, roll-back, apply again', async () => {
    expect(await health()).toContain('✅ *database* (postgres');

    const id = await act('rollback-migration metasheet-backend migration=048_create_event_bus_tables.sql');
    // The dry run reports what would change and changes nothing.
    await waitFor(
      () => JSON.stringify(requestMessage(id)?.blocks ?? '').includes('what it would do'),
      20_000,
      'dry run shown',
    );
    const dryRun = JSON.stringify(requestMessage(id)!.blocks);
    expect(dryRun).toContain('DROP TABLE');
    expect(dryRun).toContain('DELETE 1');
    expect(await tables()).toEqual(['event_store', 'event_subscriptions', 'event_types']);
    // In the incident's thread.
    expect(requestMessage(id)!.threadTs).toBe(rootTs());

    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    await waitFor(async () => (await statusOf(id)) === 'succeeded', 20_000, 'roll-back done');
    expect(await tables()).toEqual([]);
    expect(await migrations()).toEqual([]);

    await targetPool.query(await readFile(MIGRATION, 'utf8'));
    expect(await tables()).toEqual(['event_store', 'event_subscriptions', 'event_types']);
    expect(await migrations()).toEqual(['048_create_event_bus_tables.sql']);

    const { rows } = await bot.app.pool.query(
      "SELECT kind FROM timeline_entries WHERE kind LIKE 'action_%' OR kind = 'health_check' ORDER BY id",
    );
    expect(rows.map((r) => r.kind)).toEqual([
      'health_check',
      'action_requested',
      'action_voted',
      'action_approved',
      'action_succeeded',
    ]);
  });

  it('tracks degradation on the incident and reminds until it is turned off', async () => {
    const enable = await act('enable-degradation metasheet-backend');
    await clickOn(bot, 'request', enable, 'action_approve', { user: SRE.bob });
    await waitFor(async () => (await statusOf(enable)) === 'succeeded', 20_000, 'degradation on');
    const root = () =>
      JSON.stringify(bot.slack.emulator.channelMessages(channel).find((m) => m.ts === rootTs())!.blocks);
    await waitFor(
      () => root().includes('metasheet-backend runs with degradation enabled'),
      20_000,
      'shown on the root message',
    );
    await waitFor(() => thread().includes('still runs with degradation enabled'), 20_000, 'reminder');

    const disable = await act('disable-degradation metasheet-backend');
    await clickOn(bot, 'request', disable, 'action_approve', { user: SRE.bob });
    await waitFor(async () => (await statusOf(disable)) === 'succeeded', 20_000, 'degradation off');
    await waitFor(
      () => !root().includes('runs with degradation enabled'),
      20_000,
      'gone from the root message',
    );
    const reminders = async () =>
      (
        await bot.app.pool.query(
          "SELECT count(*)::int AS n FROM timeline_entries WHERE data->>'reminder' = 'degradation'",
        )
      ).rows[0].n;
    const count = await reminders();
    await new Promise((r) => setTimeout(r, 3000));
    expect(await reminders()).toBe(count);
  });
});
