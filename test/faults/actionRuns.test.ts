import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { LOST_WITHIN_MS } from '../../src/actions/serviceLock.js';
import { type ChildBot, startChild, stopChild } from '../support/childWorker.js';
import { processAlive } from '../support/processes.js';
import { RECORDER, type RecordedRun, recordedRuns, rolloutService } from '../support/rollouts.js';
import { waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { serveBehindProxy } from '../support/storeCut.js';
import type { TcpProxy } from '../support/tcpProxy.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

/** A second action on the service, with a dry run its requester sees before the votes. */
const CHECK = `      - name: check
        description: Checks the service, with a dry run first
        kind: custom
        driver: { type: command, argv: [node, ${RECORDER}, check], dryRunArgv: [node, ${RECORDER}, check-dry-run], env: { allow: [RUN_LOG] } }
        approval: { approvers: [U0BOB], required: 1 }
        dryRun: true`;

/**
 * Issue 14, tests 2, 3 and 8: an action run whose service lock or worker is lost. Real `serve` processes,
 * real PostgreSQL (behind a proxy of the test's own where the test cuts it), real roll-outs that start a
 * helper process of their own.
 */
describe('an action run losing its lock or its worker', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => {});
  });

  async function deployment() {
    const dir = await mkdtemp(join(tmpdir(), 'action-runs-'));
    const runLog = join(dir, 'runs.jsonl');
    const release = join(dir, 'release');
    await writeFile(runLog, '');
    const bot = await startTestBot({
      worker: false,
      configYaml: `${DEFAULT_TEST_CONFIG}actions:\n  workerLockDuration: 2s\nservices:\n${rolloutService('payments-api', release, `        onInterrupted: retry\n${CHECK}`)}\n${rolloutService('ledger', release, '        onInterrupted: retry\n        idempotent: true')}\n`,
    });
    cleanups.push(() => bot.stop());
    const runs = () => recordedRuns(runLog);
    // Every roll-out still running at the end, orphaned ones too, is ended.
    cleanups.push(async () => {
      await writeFile(release, '');
      for (const run of await runs()) for (const pid of [run.pid, run.childPid]) killQuietly(pid);
    });
    return { bot, runLog, runs, release };
  }

  const killQuietly = (pid: number | undefined) => {
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  };

  async function approve(bot: TestBot, service: string) {
    const answer = await slashCommand(bot, `rollout ${service}`, { command: '/action', user: SRE.alice });
    const id = /Requested ACT-(\d+)/.exec(answer.text)![1]!;
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    return Number(id);
  }

  const rowOf = async (bot: TestBot, id: number) =>
    (
      await bot.app.pool.query(
        'SELECT status, summary, driver_started_at IS NOT NULL AS started FROM action_requests WHERE id = $1',
        [id],
      )
    ).rows[0] as { status: string; summary: string | null; started: boolean };
  const settled = (bot: TestBot, id: number, timeoutMs = 30_000) =>
    waitFor(
      async () => {
        const row = await rowOf(bot, id);
        return row.status === 'running' || row.status === 'approved' ? undefined : row;
      },
      timeoutMs,
      `ACT-${id} to be recorded`,
    );
  const groupGone = (run: RecordedRun, timeoutMs: number) =>
    waitFor(
      () => [run.pid, run.childPid].every((pid) => pid === undefined || !processAlive(pid)),
      timeoutMs,
      "the roll-out's process group to be gone",
    );

  async function serve(bot: TestBot, env: Record<string, string>) {
    const child = await startChild(bot, ['serve'], env);
    cleanups.push(() => stopChild(child.process, 'SIGKILL'));
    return child;
  }

  async function serveThroughProxy(bot: TestBot, runLog: string) {
    const { child, proxy } = await serveBehindProxy(bot, 'postgres', { RUN_LOG: runLog });
    cleanups.push(
      () => stopChild(child.process, 'SIGKILL'),
      () => proxy.close(),
    );
    return { child, proxy };
  }

  it('stops the driver, its whole process group, when its lock connection is terminated, and records it interrupted, not run again', async () => {
    const { bot, runLog, runs } = await deployment();
    const child = await serve(bot, { RUN_LOG: runLog });
    const id = await approve(bot, 'payments-api');
    const run = await waitFor(async () => (await runs())[0], 30_000, 'the roll-out to start');

    const { rows } = await bot.app.pool.query(
      `SELECT pg_terminate_backend(l.pid) AS done FROM pg_locks l
        WHERE l.locktype = 'advisory' AND l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.classid = (hashtext('incident-bot:service')::int8 & 4294967295)::oid`,
    );
    expect(rows).toEqual([{ done: true }]);
    // At once, without the grace a timeout gives: another run may take the lock now. Its helper ignores
    // SIGTERM, so only a SIGKILL ends it this soon.
    await groupGone(run, 1500);
    const row = await settled(bot, id);
    expect(row).toMatchObject({ status: 'failed', started: true });
    expect(row.summary).toMatch(/^interrupted: lost the lock on payments-api: its database connection/);
    // onInterrupted: retry, but the action is not idempotent and its driver had started.
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect(await runs()).toHaveLength(1);
    expect(child.process.exitCode).toBeNull();
  });

  it(`stops the driver when its lock connection goes silent, within ${LOST_WITHIN_MS / 1000} s, and records it once the database answers`, async () => {
    const { bot, runLog, runs } = await deployment();
    const { proxy } = await serveThroughProxy(bot, runLog);
    const id = await approve(bot, 'payments-api');
    const run = await waitFor(async () => (await runs())[0], 30_000, 'the roll-out to start');

    (proxy as TcpProxy).silence();
    await groupGone(run, LOST_WITHIN_MS + 5000);
    proxy.restore();
    const row = await settled(bot, id);
    expect(row.status).toBe('failed');
    expect(row.summary).toMatch(
      /^interrupted: lost the lock on payments-api: its database connection did not answer/,
    );
  });

  it('after a SIGKILL mid-run, runs again only the idempotent action whose driver had started', async () => {
    const { bot, runLog, runs } = await deployment();
    const first = await serve(bot, { RUN_LOG: runLog });
    const once = await approve(bot, 'payments-api');
    const twice = await approve(bot, 'ledger');
    await waitFor(async () => (await runs()).length === 2 || undefined, 30_000, 'both roll-outs to start');

    await stopChild(first.process, 'SIGKILL');
    const second: ChildBot = await serve(bot, { RUN_LOG: runLog });
    const rerun = await waitFor(
      async () => (await runs()).filter((r) => r.argv[1] === 'ledger')[1],
      30_000,
      'the idempotent roll-out to run again',
    );
    expect(rerun.pid).not.toBe((await runs())[1]!.pid);
    const interrupted = await settled(bot, once);
    expect(interrupted.status).toBe('failed');
    expect(interrupted.summary).toMatch(/^interrupted: the worker running it stopped/);
    expect((await runs()).filter((r) => r.argv[1] === 'payments-api')).toHaveLength(1);
    expect(second.process.exitCode).toBeNull();
    expect((await rowOf(bot, twice)).status).toBe('running');
  });

  it("waits with a dry run until the run holding its service's lock is done", async () => {
    const { bot, runLog, runs, release } = await deployment();
    await serve(bot, { RUN_LOG: runLog });
    const rollout = await approve(bot, 'payments-api');
    await waitFor(async () => (await runs())[0], 30_000, 'the roll-out to start');

    const answer = await slashCommand(bot, 'check payments-api', { command: '/action', user: SRE.alice });
    expect(answer.text).toMatch(/Requested ACT-\d+/);
    await new Promise((resolve) => setTimeout(resolve, 3000));
    expect((await runs()).map((r) => r.argv[0])).toEqual(['rollout']);

    await writeFile(release, '');
    await settled(bot, rollout);
    await waitFor(
      async () => (await runs()).find((r) => r.argv[0] === 'check-dry-run'),
      30_000,
      'the dry run once the roll-out is done',
    );
  });
});
