import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RECORDER, recordedRuns } from '../support/rollouts.js';
import { waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

/** The catalog, and what a later config (the bot restarted after a change) makes of each action. */
const catalog = (changed: boolean) => `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    actions:
      - name: scale
        description: Scale payments-api out or in
        kind: scale
        driver: { type: command, argv: [node, ${RECORDER}, scale, ${changed ? '--context=prod, ' : ''}'{{replicas}}'], env: { allow: [RUN_LOG] } }
        params: { replicas: { type: integer, min: 2, max: 40 } }
        approval: { approvers: [U0BOB], required: 1 }
      - name: resize
        description: Resize the payments-api pool
        kind: scale
        driver: { type: command, argv: [node, ${RECORDER}, resize, '{{replicas}}'], env: { allow: [RUN_LOG] } }
        params: { replicas: { type: integer, min: 1, max: ${changed ? 10 : 50} } }
        approval: { approvers: [U0BOB], required: 1 }
      - name: rollback
        description: Roll the deployment back${changed ? ' (edited)' : ''}
        kind: rollback
        driver: { type: command, argv: [node, ${RECORDER}, rollback], dryRunArgv: [node, ${RECORDER}, rollback, ${changed ? '--to=previous, ' : ''}--dry-run], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB${changed ? ', U0CAROL' : ''}], required: 1 }
        dryRun: true
      - name: flush-cache
        description: Flush the payments cache${changed ? ', now described otherwise' : ''}
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, flush-cache, '{{reason}}'], env: { allow: [RUN_LOG] } }
        params: { reason: { type: string, pattern: '[a-z ]+' } }
        approval: { approvers: [U0BOB${changed ? ', U0CAROL' : ''}], required: 1 }
`;

describe('an approved action runs as it was approved, or not at all', () => {
  let runLog: string;
  const bots: TestBot[] = [];
  beforeAll(async () => {
    runLog = join(await mkdtemp(join(tmpdir(), 'pinned-')), 'runs.jsonl');
    process.env.RUN_LOG = runLog;
  });
  afterEach(async () => {
    for (const bot of bots.splice(0)) await bot.stop();
  });

  const runs = () => recordedRuns(runLog);
  /** A bot whose actions queue is paused: requests are made and approved, nothing runs or dry-runs yet. */
  const startPaused = async () => {
    await writeFile(runLog, '');
    const bot = await startTestBot({ configYaml: catalog(false), env: { RUN_LOG: runLog } });
    bots.push(bot);
    await bot.app.actions.pause();
    return bot;
  };
  const request = async (bot: TestBot, text: string) => {
    const answer = await slashCommand(bot, text, { command: '/action', user: SRE.alice });
    const id = /Requested ACT-(\d+)/.exec(answer.text)?.[1];
    if (!id) throw new Error(`not requested: ${answer.text}`);
    return id;
  };
  const rowOf = async (bot: TestBot, id: string) =>
    (
      await bot.app.pool.query('SELECT status, summary, dry_run_output FROM action_requests WHERE id = $1', [
        Number(id),
      ])
    ).rows[0] as { status: string; summary: string | null; dry_run_output: string | null };
  const approved = async (bot: TestBot, text: string) => {
    const id = await request(bot, text);
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    // On a bot that is not paused it may be running, or done, by the time it is looked at.
    await waitFor(async () => (await rowOf(bot, id)).status !== 'pending', 20_000, `ACT-${id} approved`);
    return id;
  };
  const finished = (bot: TestBot, id: string) =>
    waitFor(
      async () => {
        const row = await rowOf(bot, id);
        return ['succeeded', 'failed'].includes(row.status) ? row : undefined;
      },
      30_000,
      `ACT-${id} to finish`,
    );
  const messageOf = (bot: TestBot, id: string) =>
    waitFor(
      () =>
        bot.slack.emulator
          .allMessages()
          .map((m) => JSON.stringify(m.blocks))
          .findLast((blocks) => blocks.includes(`*ACT-${id} ·`) && blocks.includes('Outcome')),
      20_000,
      `ACT-${id}'s outcome in Slack`,
    );

  it('refuses a run whose catalog entry changed between approval and run, saying a new request is needed', async () => {
    const bot = await startPaused();
    const scale = await approved(bot, 'scale payments-api replicas=4');
    const resize = await approved(bot, 'resize payments-api replicas=42');
    const flush = await approved(bot, 'flush-cache payments-api reason="cache is stale"');
    // Its dry run has not run yet: the request waits for it.
    const rollback = await request(bot, 'rollback payments-api');

    // The bot restarted on the same database with an edited catalog.
    bots.splice(bots.indexOf(bot), 1);
    await bot.stop({ keepDatabase: true });
    const restarted = await startTestBot({
      configYaml: catalog(true),
      database: bot.database,
      env: { RUN_LOG: runLog },
    });
    bots.push(restarted);

    const refusedScale = await finished(restarted, scale);
    expect(refusedScale.status).toBe('failed');
    expect(refusedScale.summary).toBe(
      'the action changed since it was approved (its driver, params, timeout or kind in the catalog); a new request is needed',
    );
    expect(await messageOf(restarted, scale)).toContain('a new request is needed');

    // The stored replicas=42 no longer fits the schema: the refusal says how.
    const refusedResize = await finished(restarted, resize);
    expect(refusedResize.status).toBe('failed');
    expect(refusedResize.summary).toBe(
      'the action changed since it was approved (replicas must be at most 10, got 42); a new request is needed',
    );

    // Only its description and approvers changed: it runs, as it was approved.
    expect((await finished(restarted, flush)).status).toBe('succeeded');

    const refusedDryRun = await finished(restarted, rollback);
    expect(refusedDryRun.status).toBe('failed');
    expect(refusedDryRun.dry_run_output).toBe(
      'the action changed since it was requested (its driver, params, timeout or kind in the catalog); a new request is needed',
    );

    expect((await runs()).map((r) => r.argv)).toEqual([['flush-cache', 'cache is stale']]);

    // Asked again, it runs as the catalog now has it.
    const again = await approved(restarted, 'scale payments-api replicas=4');
    expect((await finished(restarted, again)).status).toBe('succeeded');
    expect((await runs()).at(-1)!.argv).toEqual(['scale', '--context=prod', '4']);
  });

  it.each([
    [
      'stored params the schema refuses (as a version whose checks let them through wrote them)',
      'flush-cache payments-api reason="cache is stale"',
      `UPDATE action_requests SET params = '{"reason": "--kubeconfig=/tmp/x"}' WHERE id = $1`,
      'reason does not match [a-z ]+',
    ],
    [
      'a request from before requests were pinned (no digest: what was approved is unknown)',
      'scale payments-api replicas=4',
      'UPDATE action_requests SET action_digest = NULL WHERE id = $1',
      'it was requested before the bot recorded what each request approves',
    ],
  ])('refuses to run %s', async (_what, text, storedAs, why) => {
    const bot = await startPaused();
    const id = await approved(bot, text);
    await bot.app.pool.query(storedAs, [Number(id)]);
    await bot.app.actions.resume();
    const row = await finished(bot, id);
    expect(row.status).toBe('failed');
    expect(row.summary).toBe(`the action changed since it was approved (${why}); a new request is needed`);
    expect(await runs()).toEqual([]);
  });
});
