import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { type ChildBot, startChild, startChildWorker, stopChild } from '../support/childWorker.js';
import { processAlive } from '../support/processes.js';
import { recordedRuns, rolloutConfig } from '../support/rollouts.js';
import { waitFor } from '../support/services.js';
import { clickOn, SRE, slashCommand } from '../support/slackRequests.js';
import { serveBehindProxy } from '../support/storeCut.js';
import type { TcpProxy } from '../support/tcpProxy.js';
import { startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

/**
 * SIGTERM to `incident-bot serve`, as Kubernetes or `docker stop` sends it: it stops taking requests,
 * finishes what it has started, and exits 0; nothing it accepted is lost.
 */
describe('graceful shutdown', () => {
  let dir: string;
  let runLog: string;
  const bots: TestBot[] = [];
  const children: ChildBot[] = [];
  const proxies: TcpProxy[] = [];
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'shutdown-'));
    runLog = join(dir, 'runs.jsonl');
    await writeFile(runLog, '');
  });
  afterEach(async () => {
    for (const child of children.splice(0)) await stopChild(child.process, 'SIGKILL');
    for (const proxy of proxies.splice(0)) await proxy.close();
    for (const bot of bots.splice(0)) await bot.stop();
  });

  const config = (releaseFile: string) =>
    rolloutConfig(releaseFile, ['payments-api'], 'actions:\n  workerLockDuration: 2s\n');
  const runs = () => recordedRuns(runLog);
  const statusOf = async (bot: TestBot, id: string) =>
    (await bot.app.pool.query('SELECT status, summary FROM action_requests WHERE id = $1', [Number(id)]))
      .rows[0] as { status: string; summary: string | null };

  /** The in-process bot answers Slack; every job runs in the `serve` child, which gets the SIGTERM. */
  async function startRollout(releaseFile: string, childEnv: Record<string, string>) {
    const bot = await startTestBot({
      configYaml: config(releaseFile),
      worker: false,
      env: { RUN_LOG: runLog },
    });
    bots.push(bot);
    const child = await startChild(bot, ['serve'], { RUN_LOG: runLog, ...childEnv });
    children.push(child);
    const answer = await slashCommand(bot, 'rollout payments-api', { command: '/action', user: SRE.alice });
    const id = /Requested ACT-(\d+)/.exec(answer.text)![1]!;
    const before = (await runs()).length;
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.bob });
    const run = await waitFor(async () => (await runs())[before], 30_000, 'the roll-out to start');
    expect((await statusOf(bot, id)).status).toBe('running');
    return { bot, child, id, run, url: `http://127.0.0.1:${child.port}` };
  }

  /** 503, or no connection at all: either way a load balancer takes it out. */
  const notReady = async (url: string) => {
    try {
      return (await fetch(`${url}/readyz`)).status === 503;
    } catch {
      return true;
    }
  };

  it('finishes the running action and the Slack call in flight, exits 0, and loses no accepted alert', async () => {
    const release = join(dir, 'release-1');
    const { bot, child, id, url } = await startRollout(release, { SHUTDOWN_TIMEOUT: '60s' });
    expect((await fetch(`${url}/readyz`)).status).toBe(200);

    // An alert accepted just before the signal, its Slack message held mid-call.
    const held = bot.slack.emulator.hold('chat.postMessage');
    const accepted = await fetch(`${url}/alertmanager`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify(payload({ group: 'AcceptedBeforeStop', alerts: [{ instance: 'pod-1' }] })),
    });
    expect(accepted.status).toBe(200);
    const { incident } = (await accepted.json()) as { incident: string };
    await held.reached;

    process.kill(-child.process.pid!, 'SIGTERM');
    await waitFor(() => notReady(url), 10_000, 'readiness to drop');
    await expect(
      fetch(`${url}/alertmanager`, { method: 'POST', headers: { authorization: 'Bearer x' } }).then(
        (res) => res.status,
        () => 'refused',
      ),
    ).resolves.toMatch(/^(503|refused)$/);
    // Still draining: the roll-out and the Slack call are not done.
    expect(child.process.exitCode).toBeNull();
    expect((await statusOf(bot, id)).status).toBe('running');

    held.release();
    await writeFile(release, '');
    expect(await child.exited).toBe(0);
    expect(child.output()).toContain('"msg":"incident-bot stopped"');
    expect(child.output()).not.toContain('shutdown deadline');
    expect(await statusOf(bot, id)).toMatchObject({ status: 'succeeded' });
    const root = bot.slack.emulator
      .channelMessages('C0PAYMENTS')
      .find((m) => m.text.includes('AcceptedBeforeStop'));
    expect(root, `${incident} in Slack`).toBeDefined();

    // What the last job queued (the outcome on the approval message) is shown after a restart.
    children.push({
      ...child,
      process: await startChildWorker(bot, { RUN_LOG: runLog }),
    });
    await waitFor(
      () =>
        bot.slack.emulator
          .allMessages()
          .some((m) => m.text.includes(`ACT-${id}`) && JSON.stringify(m.blocks).includes('Succeeded')),
      30_000,
      'the outcome in Slack',
    );
  });

  it('finishes a Slack click it has already acknowledged before closing the pools', async () => {
    const bot = await startTestBot({ worker: false });
    bots.push(bot);
    const child = await startChild(bot, ['serve']);
    children.push(child);
    const { incident } = (await (
      await bot.deliver(payload({ group: 'ClickedAtStop', alerts: [{ instance: 'pod-1' }] }))
    ).json()) as { incident: string };

    // Post-mortem: acknowledged at once, then queued, then the clicker is told; the telling is held.
    const held = bot.slack.emulator.hold('chat.postEphemeral');
    const atChild = { ...bot, url: `http://127.0.0.1:${child.port}` };
    expect(await clickOn(atChild, 'incident', incident.replace('INC-', ''), 'incident_postmortem')).toBe(200);
    await held.reached;

    process.kill(-child.process.pid!, 'SIGTERM');
    const early = await Promise.race([
      child.exited.then(() => 'exited'),
      new Promise((resolve) => setTimeout(() => resolve('still draining'), 2000)),
    ]);
    expect(early).toBe('still draining');
    held.release();
    expect(await child.exited).toBe(0);
    const told = bot.slack.emulator.callsOf('chat.postEphemeral').at(-1);
    expect(told).toMatchObject({ ok: true });
    expect(String(told!.params.text)).toContain(`Writing the post-mortem skeleton of ${incident}`);
  });

  it('stops the driver still running at SHUTDOWN_TIMEOUT, its whole process group, records the run as interrupted and exits 0', async () => {
    const release = join(dir, 'release-never');
    const { bot, child, id, run } = await startRollout(release, { SHUTDOWN_TIMEOUT: '1s' });

    process.kill(-child.process.pid!, 'SIGTERM');
    expect(await child.exited).toBe(0);
    expect(child.output()).toContain(
      'jobs still running at the shutdown deadline; stopping the action drivers',
    );
    // A clean exit leaves no request running and no part of the roll-out behind.
    const row = await statusOf(bot, id);
    expect(row.status).toBe('failed');
    expect(row.summary).toMatch(/^interrupted: the bot stopped before it finished/);
    await waitFor(
      () => !processAlive(run.pid) && !processAlive(run.childPid!),
      5000,
      'the roll-out and its helper to be gone',
    );
  });

  it.each([
    ['refused', (proxy: TcpProxy) => proxy.cut()],
    ['silent', (proxy: TcpProxy) => proxy.silence()],
  ])(
    'with Redis %s and no job running, stops a few seconds past SHUTDOWN_TIMEOUT, saying so, and exits 0',
    async (_, cut) => {
      const bot = await startTestBot({ worker: false });
      bots.push(bot);
      const { child, proxy } = await serveBehindProxy(bot, 'redis', { SHUTDOWN_TIMEOUT: '1s' });
      children.push(child);
      proxies.push(proxy);
      cut(proxy);

      process.kill(-child.process.pid!, 'SIGTERM');
      // Not the hard exit (1, at SHUTDOWN_TIMEOUT + 10 s): every wait past the deadline is bounded within it.
      expect(await child.exited, child.output().slice(-3000)).toBe(0);
      expect(child.output()).toContain('"msg":"incident-bot stopped"');
      // No job was running: the workers could not close because Redis did not answer.
      expect(child.output()).not.toContain('jobs still running');
      expect(child.output()).toContain(
        'the queue workers did not close by the shutdown deadline, with no job running: Redis is not answering',
      );
      // Past the deadline, about a second each for the workers, Redis and the pools, not the 5 s stopped
      // drivers get (with Redis silent, it stopped 7 s past the deadline).
      const at = (msg: string) =>
        Number(new RegExp(`"time":(\\d+)[^\\n]*"msg":"${msg}"`).exec(child.output())![1]);
      expect(at('incident-bot stopped') - at('stopping')).toBeLessThan(1000 + 4500);
    },
  );
});
