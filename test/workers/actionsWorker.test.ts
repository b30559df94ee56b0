import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { actionJobId } from '../../src/queues/actionJobs.js';
import { RECORDER, recordedRuns } from '../support/rollouts.js';
import { waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot } from '../support/testBot.js';

/**
 * Approved runs waiting for their service, which another run holds: real bot (its actions worker in
 * process), PostgreSQL, Redis and child processes for the runs.
 */
describe('approved runs waiting for their service', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function deployment() {
    const dir = await mkdtemp(join(tmpdir(), 'service-waits-'));
    const runLog = join(dir, 'runs.jsonl');
    const release = join(dir, 'release');
    await writeFile(runLog, '');
    const driver = (argv: string) =>
      `driver: { type: command, argv: [node, ${RECORDER}, ${argv}], env: { set: { RUN_LOG: '${runLog}' } } }`;
    const bot = await startTestBot({
      configYaml: `${DEFAULT_TEST_CONFIG}services:
  payments-api:
    actions:
      - name: rollout
        description: A roll-out that ends when the test says so
        kind: custom
        ${driver(`rollout, --until, ${release}`)}
        approval: { approvers: [U0BOB], required: 1 }
      - name: flush
        description: Flushes a cache, at once
        kind: custom
        ${driver('flush')}
        approval: { approvers: [U0BOB], required: 1 }
`,
    });
    cleanups.push(
      () => bot.stop(),
      // A failed test must not leave the roll-out holding the bot's stop.
      () => writeFile(release, ''),
    );
    const runs = () => recordedRuns(runLog);
    const approve = async (action: string) => {
      const answer = await slashCommand(bot, `${action} payments-api`, {
        command: '/action',
        user: SRE.alice,
      });
      const id = Number(/Requested ACT-(\d+)/.exec(answer.text)![1]);
      await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
      return id;
    };
    return { bot, runs, release, approve };
  }

  it('are tried less and less often while it is held, and go one after another, oldest first, once it is free', async () => {
    const { bot, runs, release, approve } = await deployment();
    await approve('rollout');
    await waitFor(async () => (await runs())[0], 30_000, 'the roll-out to start');
    const asked = Date.now();
    const first = await approve('flush');
    const second = await approve('flush');

    // Tried every 250 ms, each was taken 27 times in 8 s (the commit before); with waits that double, the
    // sixth try comes 7.75 s after the first, the seventh 5 s after it. The roll-out ends between the two:
    // a flush that goes soon after was woken, not tried again.
    const jobIds = [first, second].map((id) => actionJobId({ kind: 'run', requestId: id }));
    const jobs = () => Promise.all(jobIds.map((id) => Job.fromId(bot.app.actions, id)));
    await waitFor(
      async () => {
        const now = await jobs();
        const waiting = await Promise.all(now.map((job) => job?.isDelayed()));
        return now.every((job, i) => job && job.attemptsStarted >= 6 && waiting[i]) || undefined;
      },
      30_000,
      'both flushes to wait a sixth time',
    );
    expect(Date.now() - asked).toBeGreaterThan(7000);
    for (const job of await jobs()) expect(job!.attemptsStarted).toBeLessThanOrEqual(7);
    expect((await runs()).map((r) => r.argv[0])).toEqual(['rollout']);
    // The first flush's sixth wait (5 s) ends this long after it began.
    const ownWaitEnds = (await jobs())[0]!.processedOn! + 5000;

    const freed = Date.now();
    await writeFile(release, '');
    const flushes = await waitFor(
      async () => {
        const flushed = (await runs()).filter((r) => r.argv[0] === 'flush');
        return flushed.length === 2 ? flushed : undefined;
      },
      30_000,
      'both flushes to run',
    );
    const statuses = await bot.app.pool.query(
      'SELECT id::int AS id, started_at FROM action_requests WHERE id = ANY($1) ORDER BY started_at',
      [[first, second]],
    );
    expect(statuses.rows.map((r: { id: number }) => r.id)).toEqual([first, second]);
    // Woken by the roll-out as it ends, not at the end of a wait grown to seconds.
    expect(flushes[0]!.at - freed).toBeLessThan(2500);
    expect(flushes[0]!.at).toBeLessThan(ownWaitEnds - 1000);
  });
});
