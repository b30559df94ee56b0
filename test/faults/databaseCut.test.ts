import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stopChild } from '../support/childWorker.js';
import { rolloutConfig } from '../support/rollouts.js';
import { waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { expectSurvived, runStoreCut, serveBehindProxy } from '../support/storeCut.js';
import { startTestBot } from '../support/testBot.js';

/** Fault scenario 3 of issue 13: PostgreSQL cut away from `incident-bot serve`, then given back. */
describe('a PostgreSQL cut', () => {
  it('leaves the bot up, answering 503 and "try again", and Slack catches up after it, one root each', async () => {
    const report = await runStoreCut({
      store: 'postgres',
      outageMs: 20_000,
      inFlight: 4,
      firingDuringCut: 3,
      // Syncs wait for the database on a steady 2 s, not a backoff grown with the cut (13 s after 20 s).
      catchUpTimeoutMs: 8000,
    });
    expectSurvived(report);
    for (const list of report.listDuringCut) expect(list.text).toMatch(/try again/i);
  }, 150_000);

  it('leaves an action run holding its service lock to finish, and records its outcome once it is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'db-cut-'));
    const runLog = join(dir, 'runs.jsonl');
    const release = join(dir, 'release');
    await writeFile(runLog, '');
    const bot = await startTestBot({
      worker: false,
      configYaml: rolloutConfig(release),
    });
    const { child, proxy, url } = await serveBehindProxy(bot, 'postgres', { RUN_LOG: runLog });
    try {
      const answer = await slashCommand(bot, 'rollout payments-api', { command: '/action', user: SRE.alice });
      const id = /Requested ACT-(\d+)/.exec(answer.text)![1]!;
      await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
      await waitFor(async () => (await readFile(runLog, 'utf8')).length > 0, 30_000, 'the roll-out to start');

      proxy.cut();
      await waitFor(async () => (await fetch(`${url}/readyz`)).status === 503, 10_000, 'readiness to drop');
      expect(child.process.exitCode, child.output().slice(-3000)).toBeNull();
      proxy.restore();
      await writeFile(release, '');

      const status = async () =>
        (await bot.app.pool.query('SELECT status FROM action_requests WHERE id = $1', [Number(id)])).rows[0]
          .status;
      await waitFor(async () => (await status()) === 'succeeded', 30_000, 'the run to be recorded');
      expect(child.process.exitCode).toBeNull();
    } finally {
      await stopChild(child.process, 'SIGKILL');
      await proxy.close();
      await bot.stop();
    }
  });
});
