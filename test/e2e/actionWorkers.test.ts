import type { ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startChildWorker, stopChild } from '../support/childWorker.js';
import { RECORDER, recordedRuns } from '../support/rollouts.js';
import { waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

const config = `${DEFAULT_TEST_CONFIG}
actions:
  workerLockDuration: 2s
services:
  payments-api:
    actions:
      - name: scale
        description: Scale the payments-api deployment
        kind: scale
        driver: { type: command, argv: [node, ${RECORDER}, scale, '{{replicas}}'], env: { allow: [RUN_LOG] } }
        params: { replicas: { type: integer, min: 1, max: 50 } }
        approval: { approvers: [U0BOB], required: 1 }
      - name: slow-rollout
        description: A roll-out that takes a minute
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, slow-rollout, --hold, '60000'], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1 }
        timeout: 2m
`;

describe('approved actions across worker processes', () => {
  let runLog: string;
  const children: ChildProcess[] = [];
  const bots: TestBot[] = [];
  beforeAll(async () => {
    runLog = join(await mkdtemp(join(tmpdir(), 'workers-')), 'runs.jsonl');
    process.env.RUN_LOG = runLog;
  });
  afterEach(async () => {
    for (const child of children.splice(0)) await stopChild(child, 'SIGKILL');
    for (const bot of bots.splice(0)) await bot.stop();
  });

  const runs = () => recordedRuns(runLog);
  const start = async (worker = false) => {
    await writeFile(runLog, '');
    // HTTP only, unless told: every action runs in one of the worker processes.
    const bot = await startTestBot({ configYaml: config, worker, env: { RUN_LOG: runLog } });
    bots.push(bot);
    return bot;
  };
  const request = async (bot: TestBot, text: string) => {
    const answer = await slashCommand(bot, text, { command: '/action', user: SRE.alice });
    return /Requested ACT-(\d+)/.exec(answer.text)![1]!;
  };
  const statusOf = async (bot: TestBot, id: string) =>
    (await bot.app.pool.query('SELECT status, summary FROM action_requests WHERE id = $1', [Number(id)]))
      .rows[0];

  it('two worker processes on one queue run each approved action exactly once', async () => {
    const bot = await start();
    children.push(
      await startChildWorker(bot, { RUN_LOG: runLog }),
      await startChildWorker(bot, { RUN_LOG: runLog }),
    );
    const ids = [];
    for (let n = 1; n <= 8; n++) ids.push(await request(bot, `scale payments-api replicas=${n}`));
    // Each approval clicked twice, as a double click would.
    await Promise.all(
      ids.flatMap((id) => [
        clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob }),
        clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob }),
      ]),
    );
    for (const id of ids)
      await waitFor(
        async () => (await statusOf(bot, id))?.status === 'succeeded',
        30_000,
        `ACT-${id} succeeded`,
      );
    const replicas = (await runs()).map((r) => Number(r.argv[1])).sort((a, b) => a - b);
    expect(replicas).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
  });

  /**
   * Approves `replicas` on a bot whose worker runs nothing (the actions queue is paused), then restarts
   * it on the same database with a fresh Redis prefix: the run job is gone; Postgres still says
   * "approved". `before` is done first, on the bot. Resolves once the restarted bot has run it.
   */
  const approvedThenRestarted = async (replicas: number, before: (bot: TestBot) => Promise<unknown>) => {
    const bot = await start(true);
    await bot.app.actions.pause();
    await before(bot);
    const id = await request(bot, `scale payments-api replicas=${replicas}`);
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    await waitFor(async () => (await statusOf(bot, id))?.status === 'approved', 20_000, 'approved');
    bots.splice(bots.indexOf(bot), 1);
    await bot.stop({ keepDatabase: true });
    const restarted = await startTestBot({
      configYaml: config,
      database: bot.database,
      env: { RUN_LOG: runLog },
    });
    bots.push(restarted);
    await waitFor(
      async () => (await statusOf(restarted, id))?.status === 'succeeded',
      30_000,
      'run after restart',
    );
    expect((await runs()).filter((r) => r.argv[1] === String(replicas))).toHaveLength(1);
  };

  it('runs an approved action after a restart even when Redis lost its job', async () => {
    await approvedThenRestarted(42, async () => {});
  });

  it('runs an approved action after a restart behind more than a page of requests waiting for votes', async () => {
    await approvedThenRestarted(43, async (bot) => {
      const waiting = await request(bot, 'scale payments-api replicas=1');
      // A thousand older requests, all waiting for votes and shown: nothing for the sweep to queue.
      await bot.app.pool.query(
        `INSERT INTO action_requests (action, service, params, requested_by, channel_id, required_approvals,
                expires_at, message_ts, message_version)
         SELECT action, service, params, requested_by, channel_id, required_approvals, expires_at, '1.000001',
                version
           FROM action_requests, generate_series(1, 1000) WHERE id = $1`,
        [Number(waiting)],
      );
    });
  });

  it('fails a run whose worker was killed mid-action instead of leaving it running forever', async () => {
    const bot = await start();
    const first = await startChildWorker(bot, { RUN_LOG: runLog });
    children.push(first);
    const id = await request(bot, 'slow-rollout payments-api');
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    const started = await waitFor(
      async () => (await runs()).find((r) => r.argv[0] === 'slow-rollout'),
      30_000,
      'the roll-out to start',
    );
    expect((await statusOf(bot, id)).status).toBe('running');

    await stopChild(first, 'SIGKILL');
    // The roll-out itself outlives its worker (its own process group): that is why it is not retried.
    process.kill(started.pid, 'SIGKILL');
    children.push(await startChildWorker(bot, { RUN_LOG: runLog }));
    const final = await waitFor(
      async () => {
        const row = await statusOf(bot, id);
        return row.status !== 'running' ? row : undefined;
      },
      30_000,
      'the stalled run to be decided',
    );
    expect(final.status).toBe('failed');
    expect(final.summary).toMatch(/^interrupted/);
    expect((await runs()).filter((r) => r.argv[0] === 'slow-rollout')).toHaveLength(1);
  });
});

describe('a dry run the bot stops before it ends', () => {
  const bots: TestBot[] = [];
  afterEach(async () => {
    for (const bot of bots.splice(0)) await bot.stop();
  });

  // A restart (SIGTERM past SHUTDOWN_TIMEOUT) recorded the stopped rehearsal as failed, and the request
  // with it: nobody had rejected it, and it had to be asked for again.
  it('leaves its request waiting for the rehearsal, which the bot started after it runs again', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'dry-run-'));
    const [started, release] = [join(dir, 'started'), join(dir, 'release')];
    // The rehearsal says it started, then waits a minute unless released.
    const rehearsal = `require('fs').writeFileSync(${JSON.stringify(started)}, ''); require('fs').existsSync(${JSON.stringify(release)}) || setTimeout(() => {}, 60000)`;
    const configYaml = `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    actions:
      - name: migrate
        description: A migration roll-back whose rehearsal takes a while
        kind: rollback
        dryRun: true
        driver: { type: command, argv: [node, -e, '0'], dryRunArgv: [node, -e, ${JSON.stringify(rehearsal)}] }
        approval: { approvers: [U0BOB], required: 1 }
`;
    const bot = await startTestBot({ configYaml, env: { SHUTDOWN_TIMEOUT: '1s' } });
    const answer = await slashCommand(bot, 'migrate payments-api', { command: '/action', user: SRE.alice });
    const id = Number(/Requested ACT-(\d+)/.exec(answer.text)![1]);
    await waitFor(() => existsSync(started), 20_000, 'the rehearsal to start');
    await bot.stop({ keepDatabase: true });
    const database = new pg.Pool({ connectionString: bot.database.url, max: 1 });
    const request = async () =>
      (await database.query('SELECT status, dry_run_status FROM action_requests WHERE id = $1', [id]))
        .rows[0];
    try {
      // As the bot stopped it: still pending, its rehearsal still to run.
      expect(await request()).toEqual({ status: 'pending', dry_run_status: 'running' });
      await writeFile(release, '');
      bots.push(await startTestBot({ configYaml, database: bot.database }));
      await waitFor(async () => (await request()).dry_run_status === 'ok', 30_000, 'the rehearsal');
      expect((await request()).status).toBe('pending');
    } finally {
      await database.end();
    }
  });
});
