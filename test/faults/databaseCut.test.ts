import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stopChild } from '../support/childWorker.js';
import { waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { runStoreCut, serveBehindProxy } from '../support/storeCut.js';
import { DEFAULT_TEST_CONFIG, startTestBot } from '../support/testBot.js';

const RECORDER = new URL('../fixtures/record-run.mjs', import.meta.url).pathname;

/** Fault scenario 3 of issue 13: PostgreSQL cut away from `incident-bot serve`, then given back. */
describe('a PostgreSQL cut', () => {
  it('leaves the bot up, answering 503 and "try again", and Slack catches up after it, one root each', async () => {
    const report = await runStoreCut({
      store: 'postgres',
      outageMs: 20_000,
      inFlight: 4,
      firingDuringCut: 3,
    });
    expect(report.alive, report.output.slice(-3000)).toBe(true);
    // Never a 4xx (Alertmanager drops it) and never a 200 (nothing could be stored).
    expect(Object.keys(report.webhookDuringCut)).toEqual(['503']);
    expect(Object.keys(report.readyzDuringCut)).toEqual(['503']);
    expect(report.listDuringCut.length).toBeGreaterThan(0);
    for (const list of report.listDuringCut) {
      expect(list.status).toBe(200);
      expect(list.text).toMatch(/try again/i);
      // Slack shows "operation_timeout" to whoever typed a command not answered within 3 s.
      expect(list.ms).toBeLessThan(3000);
    }
    expect(report.lost).toBe(0);
    expect(report.duplicateRoots).toBe(0);
    expect(report.catchUpMs, report.output.slice(-3000)).toBeDefined();
  }, 150_000);

  it('leaves an action run holding its service lock to finish, and records its outcome once it is back', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'db-cut-'));
    const runLog = join(dir, 'runs.jsonl');
    const release = join(dir, 'release');
    await writeFile(runLog, '');
    const bot = await startTestBot({
      worker: false,
      configYaml: `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    actions:
      - name: rollout
        description: A roll-out that ends when the test says so
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, rollout, --until, ${release}], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1 }
        timeout: 2m
`,
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
