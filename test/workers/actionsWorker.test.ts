import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { actionJobId } from '../../src/queues/actionJobs.js';
import { RECORDER } from '../support/rollouts.js';
import { waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot } from '../support/testBot.js';

/** How long the roll-out holds its service while two runs wait for it. */
const HELD_MS = 8000;

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
    const runs = async () =>
      (await readFile(runLog, 'utf8'))
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line) as { argv: string[]; at: number });
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
    const first = await approve('flush');
    const second = await approve('flush');

    await new Promise((resolve) => setTimeout(resolve, HELD_MS));
    // Tried every 250 ms, each would have been taken about 30 times by now; waits that double, 6 at most.
    for (const id of [first, second]) {
      const job = await Job.fromId(bot.app.actions, actionJobId({ kind: 'run', requestId: id }));
      expect(job?.attemptsStarted).toBeGreaterThan(1);
      expect(job?.attemptsStarted).toBeLessThanOrEqual(7);
    }
    expect((await runs()).map((r) => r.argv[0])).toEqual(['rollout']);

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
  });
});
