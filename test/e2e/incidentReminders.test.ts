import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/services.js';
import { INCIDENT_CHANNEL, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const text = (value: unknown) => JSON.stringify(value);

describe('reminders', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({
      configYaml: `${DEFAULT_TEST_CONFIG}
incidents:
  updateIntervals: { P1: 2s }
  commanderReminderAfter: 1s
`,
    });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const declare = async (title: string) => {
    const answer = await slashCommand(bot, `declare P1 ${title}`);
    const ref = /Declared (INC-\d+)/.exec(answer.text)![1]!;
    const root = await waitFor(
      () =>
        bot.slack.emulator.channelMessages(INCIDENT_CHANNEL).find((m) => text(m.blocks).includes(`${ref} ·`)),
      20_000,
      'root',
    );
    return {
      ref,
      id: Number(ref.slice(4)),
      thread: () => text(bot.slack.emulator.threadOf(INCIDENT_CHANNEL, root.ts).map((m) => m.blocks)),
    };
  };
  const reminders = async (id: number) =>
    (
      await bot.app.pool.query(
        "SELECT data->>'reminder' AS reminder FROM timeline_entries WHERE incident_id = $1 AND kind = 'reminder' ORDER BY id",
        [id],
      )
    ).rows.map((r) => r.reminder);

  it('reminds when nobody takes command, and when a status update is overdue', async () => {
    const incident = await declare('Queue consumers stuck');
    await waitFor(() => incident.thread().includes('No commander yet'), 20_000, 'commander reminder');
    await waitFor(() => incident.thread().includes('status update is due'), 20_000, 'update reminder');
    expect((await reminders(incident.id)).filter((r) => r === 'commander')).toHaveLength(1);
  });

  it('reschedules on each update, names the commander, and stops once resolved', async () => {
    const incident = await declare('Cache hit rate collapsed');
    await slashCommand(bot, `assign ${incident.ref} commander <@U0BOB>`);
    await slashCommand(bot, `update ${incident.ref} investigating Looking at eviction metrics`);
    await waitFor(
      () => incident.thread().includes('<@U0BOB>, a status update is due'),
      20_000,
      'update reminder to the commander',
    );
    expect(await reminders(incident.id)).not.toContain('commander');

    await slashCommand(bot, `resolve ${incident.ref} Restored the cache size`);
    const count = (await reminders(incident.id)).length;
    // Its reminder, left to run, finds it resolved and is gone; two intervals later nothing more was said.
    const left = async () =>
      (await bot.app.tasks.getJobs(['delayed', 'waiting', 'active'])).filter(
        (job) => 'incidentId' in job.data && job.data.incidentId === incident.id,
      );
    await waitFor(async () => (await left()).length === 0, 20_000, 'the reminder to run and end');
    await new Promise((r) => setTimeout(r, 4500));
    expect((await reminders(incident.id)).length).toBe(count);
  });

  it('keeps reminders across a restart of the bot', async () => {
    const incident = await declare('Disk filling on ingest nodes');
    await slashCommand(bot, `assign ${incident.ref} commander <@U0BOB>`);
    await bot.stop({ keepDatabase: true });
    // A new process, and a Redis that lost every job: Postgres still knows when the update is due.
    bot = await startTestBot({
      database: bot.database,
      configYaml: `${DEFAULT_TEST_CONFIG}
incidents:
  updateIntervals: { P1: 2s }
  commanderReminderAfter: 1s
`,
    });
    await waitFor(
      async () => (await reminders(incident.id)).includes('update'),
      20_000,
      'reminder after restart',
    );
  });
});

describe('a commander reminder Redis lost', () => {
  const configYaml = `${DEFAULT_TEST_CONFIG}
incidents:
  commanderReminderAfter: 15s
`;
  let bot: TestBot;
  afterAll(async () => {
    await bot?.stop();
  });

  it('is sent by the bot started after it', async () => {
    bot = await startTestBot({ configYaml });
    const answer = await slashCommand(bot, 'declare P2 Replication lag on the orders database');
    const id = Number(/Declared INC-(\d+)/.exec(answer.text)![1]);
    const reminded = async () =>
      (
        await bot.app.pool.query(
          "SELECT 1 FROM timeline_entries WHERE incident_id = $1 AND kind = 'reminder' AND data->>'reminder' = 'commander'",
          [id],
        )
      ).rows.length;
    // Stopped before the reminder is due; the bot started after it has a Redis with none of its jobs.
    await bot.stop({ keepDatabase: true });
    bot = await startTestBot({ database: bot.database, configYaml });
    expect(await reminded()).toBe(0);
    await waitFor(async () => (await reminded()) === 1, 30_000, 'the commander reminder');
  });
});

describe("a reminder due past the workers' next sweeps", () => {
  let bot: TestBot;
  afterAll(async () => {
    await bot?.stop();
  });

  it('is scheduled by the sweep once it comes within its reach', async () => {
    bot = await startTestBot({
      configYaml: `${DEFAULT_TEST_CONFIG}
incidents:
  updateIntervals: { P1: 1h }
  commanderReminderAfter: 10m
`,
    });
    const answer = await slashCommand(bot, 'declare P1 Checkout latency doubled');
    const id = Number(/Declared INC-(\d+)/.exec(answer.text)![1]);
    const reminders = async () =>
      (await bot.app.tasks.getJobs(['delayed', 'waiting', 'active']))
        .map((job) => job.id)
        .filter((jobId) => jobId?.endsWith(`-reminder-${id}`))
        .sort();
    expect(await reminders()).toEqual([]);
    // Time passes: both come due within the sweeps' reach.
    await bot.app.pool.query(
      `UPDATE incidents SET next_update_due_at = now() + interval '90 seconds',
                            commander_reminder_due_at = now() + interval '60 seconds' WHERE id = $1`,
      [id],
    );
    await bot.app.tasks.add('sweep', { kind: 'sweep' });
    await waitFor(async () => (await reminders()).length === 2, 20_000, 'the sweep to schedule both');
    expect(await reminders()).toEqual([`commander-reminder-${id}`, `update-reminder-${id}`]);
  });
});
