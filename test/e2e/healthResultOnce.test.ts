import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrate } from '../../src/db/migrate.js';
import { createPool } from '../../src/db/pool.js';
import { HEALTH_QUEUE, type HealthJob, requeueHealthCheck } from '../../src/queues/healthJobs.js';
import { createQueue, createWorkerRedis } from '../../src/queues/queues.js';
import { payload } from '../support/alertmanager.js';
import { healthResultsSettled, paymentsApiChecked, startHealthyEndpoint } from '../support/healthEndpoint.js';
import {
  createTestDatabase,
  redisUrl,
  uniquePrefix,
  waitFor,
  waitForQueueIdle,
} from '../support/services.js';
import { slashCommand } from '../support/slackRequests.js';
import { jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * A requested health check result (here /health) is posted once and never lost: a post whose answer was
 * lost, or whose recording failed, is looked up rather than made again; a Slack outage is waited out; a
 * request whose job Redis lost is found again in PostgreSQL.
 */
describe('a requested health result and Slack faults', () => {
  let bot: TestBot;
  let endpoint: Awaited<ReturnType<typeof startHealthyEndpoint>>;

  beforeAll(async () => {
    endpoint = await startHealthyEndpoint();
    bot = await startTestBot({ configYaml: paymentsApiChecked(endpoint.url) });
  });
  afterAll(async () => {
    await bot?.stop();
    endpoint?.close();
  });

  const results = (channel: string) =>
    bot.slack.emulator.channelMessages(channel).filter((m) => m.text.startsWith('Health checks'));

  /** Asks for /health in `channel`: what it was told, and the results there once all is settled. */
  const askedIn = async (channel: string) => {
    const answer = await slashCommand(bot, 'payments-api', { channel, command: '/health' });
    await waitFor(() => results(channel).length >= 1, 30_000, 'a result');
    await healthResultsSettled(bot);
    return { answer: answer.text, results: results(channel).length };
  };

  it('posts the result of a job an older version queued, which carries the request itself', async () => {
    const channel = 'C0HEALTHOLD';
    // As an older serve queued it: no request id, the request in the job, its id from the trigger_id.
    await bot.app.health.add(
      'check',
      { services: ['payments-api'], channelId: channel, requestedBy: 'U0ALICE' } as never,
      { jobId: 'health-command-T0OLDER', attempts: 3 },
    );
    await waitFor(() => results(channel).length >= 1, 30_000, 'a result');
    await healthResultsSettled(bot);
    expect(results(channel)).toHaveLength(1);
    // The same job run again after it posted, as a stalled job is: it posts nothing more.
    const job = await Job.fromId(bot.app.health, 'health-command-T0OLDER');
    await waitFor(async () => (await job!.getState()) === 'completed', 10_000, 'the job completed');
    await job!.retry('completed');
    await waitFor(async () => (await job!.getState()) === 'completed', 30_000, 'the job completed again');
    await healthResultsSettled(bot);
    expect(results(channel)).toHaveLength(1);
  }, 40_000);

  it('posts the result once when Slack took it but answered 503', async () => {
    bot.slack.emulator.failNext('chat.postMessage', { status: 503, accepted: true });
    expect((await askedIn('C0HEALTHONE')).results).toBe(1);
  }, 40_000);

  it('still posts the result after a 5 s Slack outage', async () => {
    bot.slack.emulator.outage(5000);
    expect(await askedIn('C0HEALTHTWO')).toEqual({
      answer: expect.stringContaining('results follow here'),
      results: 1,
    });
  }, 45_000);

  it('waits out a Slack outage through more tries than a request failing otherwise is given', async () => {
    const channel = 'C0HEALTHLONG';
    // Six tries fail (five give up a request failing otherwise), each brought forward from its backoff.
    bot.slack.emulator.failNext('chat.postMessage', { status: 503 }, 6);
    await slashCommand(bot, 'payments-api', { channel, command: '/health', user: 'U0PATIENT' });
    const { rows } = await bot.app.pool.query('SELECT id FROM health_requests WHERE channel_id = $1', [
      channel,
    ]);
    for (let tries = 1; tries <= 6; tries++) {
      const job = await waitFor(
        async () => {
          const job = await Job.fromId(bot.app.health, `health-request-${rows[0].id}`);
          return job && job.attemptsMade >= tries && (await job.isDelayed()) ? job : undefined;
        },
        20_000,
        `try ${tries} to fail`,
      );
      await job.promote();
    }
    await waitFor(() => results(channel).length >= 1, 30_000, 'a result');
    await healthResultsSettled(bot);
    expect(results(channel)).toHaveLength(1);
    expect(bot.slack.emulator.ephemerals('U0PATIENT')).toHaveLength(0);
  }, 60_000);

  it('posts the result once when recording it on the timeline fails once after the post', async () => {
    const channel = 'C0PAYMENTS';
    const { incident } = await jsonOf(
      await bot.deliver(payload({ group: 'HealthTimeline', alerts: [{ instance: 'a' }] })),
    );
    const root = await waitFor(() => bot.slack.emulator.channelMessages(channel)[0], 20_000, 'root message');
    await bot.app.pool.query(`CREATE SEQUENCE refuse_health_once;
      CREATE FUNCTION refuse_health_once() RETURNS trigger LANGUAGE plpgsql AS $fn$
      BEGIN
        IF NEW.kind = 'health_check' AND nextval('refuse_health_once') = 1 THEN
          RAISE EXCEPTION 'refused by the test' USING ERRCODE = '57P01';
        END IF;
        RETURN NEW;
      END $fn$;
      CREATE TRIGGER refuse_health_once BEFORE INSERT ON timeline_entries
        FOR EACH ROW EXECUTE FUNCTION refuse_health_once();`);
    const answer = await slashCommand(bot, 'payments-api', { channel, command: '/health' });
    expect(answer.text).toContain(`for ${incident}`);
    const inThread = () =>
      bot.slack.emulator.threadOf(channel, root.ts).filter((m) => m.text.startsWith('Health checks'));
    await waitFor(() => inThread().length >= 1, 20_000, 'a result in the thread');
    await healthResultsSettled(bot);
    expect(inThread()).toHaveLength(1);
    // The timeline has it once, shown in the message posted.
    const { rows } = await bot.app.pool.query(
      "SELECT slack_ts FROM timeline_entries WHERE kind = 'health_check' AND incident_id = $1",
      [Number(incident!.slice('INC-'.length))],
    );
    expect(rows).toEqual([{ slack_ts: inThread()[0]!.ts }]);
  }, 40_000);
});

describe('a requested health check whose job Redis lost', () => {
  let endpoint: Awaited<ReturnType<typeof startHealthyEndpoint>>;
  let bot: TestBot | undefined;

  beforeAll(async () => {
    endpoint = await startHealthyEndpoint();
  });
  afterAll(async () => {
    await bot?.stop();
    endpoint?.close();
  });

  it('is found again in PostgreSQL and its result posted', async () => {
    const channel = 'C0HEALTHLOST';
    // Asked of a bot with no worker, then started again on another Redis prefix: the job is gone.
    const asked = await startTestBot({ configYaml: paymentsApiChecked(endpoint.url), worker: false });
    try {
      const answer = await slashCommand(asked, 'payments-api', { channel, command: '/health' });
      expect(answer.text).toContain('results follow here');
    } finally {
      await asked.stop({ keepDatabase: true });
    }
    bot = await startTestBot({ configYaml: paymentsApiChecked(endpoint.url), database: asked.database });
    const results = () =>
      bot!.slack.emulator.channelMessages(channel).filter((m) => m.text.startsWith('Health checks'));
    await waitFor(() => results().length >= 1, 20_000, 'the result of the lost job');
    await healthResultsSettled(bot);
    expect(results()).toHaveLength(1);
  }, 60_000);

  it('is queued again behind a thousand others still to post, unless given up and who asked told', async () => {
    const database = await createTestDatabase();
    const pool = createPool(database.url, 2);
    let ids: { oldest: number; told: number; untold: number; newest: number };
    try {
      await migrate(pool);
      const request = (count: number, givenUp: 'no' | 'told' | 'untold') =>
        pool.query<{ id: number }>(
          `INSERT INTO health_requests (request_key, services, channel_id, requested_by, given_up_at,
                                        given_up_told_at)
           SELECT 'command:T' || gen_random_uuid(), '{payments-api}', 'C0STUCK', 'U0ALICE',
                  CASE WHEN $2 <> 'no' THEN now() END, CASE WHEN $2 = 'told' THEN now() END
             FROM generate_series(1, $1) RETURNING id::int AS id`,
          [count, givenUp],
        );
      const { rows: stuck } = await request(1000, 'no');
      const { rows: told } = await request(1, 'told');
      const { rows: untold } = await request(1, 'untold');
      const { rows: newest } = await request(1, 'no');
      ids = { oldest: stuck[0]!.id, told: told[0]!.id, untold: untold[0]!.id, newest: newest[0]!.id };
    } finally {
      await pool.end();
    }
    // Paused before the bot starts: its sweep's jobs stay in the queue, to be read.
    const prefix = uniquePrefix();
    const redis = createWorkerRedis(redisUrl());
    const paused = createQueue<HealthJob>(HEALTH_QUEUE, redis, prefix);
    try {
      await paused.pause();
    } finally {
      await paused.close();
      redis.disconnect();
    }
    const swept = await startTestBot({
      configYaml: paymentsApiChecked(endpoint.url),
      database,
      env: { QUEUE_PREFIX: prefix },
    });
    try {
      const queued = (id: number) => Job.fromId(swept.app.health, `health-request-${id}`);
      await waitFor(
        async () => (await queued(ids.newest)) !== undefined,
        20_000,
        'the newest request queued',
      );
      expect(await queued(ids.oldest)).toBeDefined();
      expect(await queued(ids.untold)).toBeDefined();
      expect(await queued(ids.told)).toBeUndefined();
      expect(await swept.app.health.getJobCounts('waiting')).toEqual({ waiting: 1002 });
    } finally {
      await swept.stop();
    }
  }, 60_000);
});

describe('a requested health result that cannot be shown', () => {
  let bot: TestBot;
  let endpoint: Awaited<ReturnType<typeof startHealthyEndpoint>>;
  const logged: string[] = [];

  beforeAll(async () => {
    endpoint = await startHealthyEndpoint();
    // An override that renders for who asked alone, which is all the start's check of templates renders,
    // and breaks on the message for everyone.
    const templates = await mkdtemp(join(tmpdir(), 'broken-templates-'));
    await writeFile(
      join(templates, 'health-result.hbs'),
      '{{#if askerOnly}}{"text": "Health checks", "blocks": []}{{else}}no JSON here{{/if}}',
    );
    bot = await startTestBot({
      configYaml: paymentsApiChecked(endpoint.url),
      env: { TEMPLATES_DIR: templates },
      logTo: { write: (line: string) => logged.push(line) },
    });
  });
  afterAll(async () => {
    await bot?.stop();
    endpoint?.close();
  });

  it('is given up after a few tries, with its error, logged once, and who asked is told once', async () => {
    const channel = 'C0HEALTHBROKEN';
    await slashCommand(bot, 'payments-api', { channel, command: '/health', user: 'U0ASKER' });
    const told = () => bot.slack.emulator.ephemerals('U0ASKER');
    await waitFor(() => told().length > 0, 40_000, 'who asked to be told');
    await waitForQueueIdle(bot.app.health);
    expect(told()).toHaveLength(1);
    expect(told()[0]).toMatchObject({
      channel,
      text: expect.stringMatching(/payments-api.*could not be shown.*does not render valid JSON/),
    });
    const { rows } = await bot.app.pool.query(
      'SELECT failures, error, given_up_at IS NOT NULL AS "givenUp" FROM health_requests WHERE channel_id = $1',
      [channel],
    );
    expect(rows).toEqual([
      { failures: 5, error: expect.stringContaining('does not render valid JSON'), givenUp: true },
    ]);
    const givenUp = logged.filter((line) => line.includes('the request is given up'));
    expect(givenUp).toHaveLength(1);
    expect(JSON.parse(givenUp[0]!)).toMatchObject({ level: 50 });
    expect(bot.slack.emulator.channelMessages(channel)).toHaveLength(0);
  }, 60_000);

  it('tells who asked once Slack takes the notice, when it did not as the request was given up', async () => {
    const channel = 'C0HEALTHBROKENLATER';
    bot.slack.emulator.failNext('chat.postEphemeral', { status: 503 }, 1);
    await slashCommand(bot, 'payments-api', { channel, command: '/health', user: 'U0LATER' });
    const told = () => bot.slack.emulator.ephemerals('U0LATER');
    await waitFor(() => told().length > 0, 60_000, 'who asked to be told');
    await healthResultsSettled(bot);
    // The sweep queuing it again tells them nothing more.
    const { rows } = await bot.app.pool.query('SELECT id FROM health_requests WHERE channel_id = $1', [
      channel,
    ]);
    await requeueHealthCheck(bot.app.health, rows[0].id);
    await waitForQueueIdle(bot.app.health);
    expect(
      bot.slack.emulator.callsOf('chat.postEphemeral').filter((c) => c.params.user === 'U0LATER'),
    ).toHaveLength(2);
    expect(told()).toHaveLength(1);
    expect(told()[0]!.text).toMatch(/payments-api.*could not be shown.*does not render valid JSON/);
  }, 90_000);
});
