import { afterEach, describe, expect, it, vi } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { createSlackSyncQueue, createWorkerRedis } from '../../src/queues/queues.js';
import { startSlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { SlackApi } from '../../src/slack/slackApi.js';
import { PROBE_EVERY_MS, SlackProbe } from '../../src/workers/slackProbe.js';
import { clearRedisPrefix, redisUrl, uniquePrefix, waitFor } from '../support/services.js';
import { TEST_SECRETS } from '../support/testBot.js';

describe('the Slack probe', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Starts the probes; `tickedByHand`: their intervals tick only as the test advances them. */
  function startAll(probes: SlackProbe[], { tickedByHand = false } = {}) {
    if (tickedByHand) {
      vi.useFakeTimers({ toFake: ['setInterval', 'clearInterval'] });
      cleanups.push(async () => vi.useRealTimers());
    }
    for (const probe of probes) {
      probe.start();
      cleanups.push(async () => probe.stop());
    }
  }

  /** Probes on two workers sharing one queue, and a sync waiting out a long backoff. */
  async function deployment() {
    const slack = await startSlackEmulator({ token: TEST_SECRETS.botToken });
    const prefix = uniquePrefix();
    const redis = createWorkerRedis(redisUrl());
    const queue = createSlackSyncQueue(redis, prefix);
    cleanups.push(
      slack.close,
      () => redis.quit(),
      () => queue.close(),
      () => clearRedisPrefix(prefix),
    );
    const api = new SlackApi(TEST_SECRETS.botToken, slack.apiUrl);
    const probes = [1, 2].map(
      () => new SlackProbe({ redis, prefix, slack: api, queue, logger: createLogger('silent') }),
    );
    await queue.add(
      'incident',
      { kind: 'incident', incidentId: 1 },
      { delay: 10 * 60_000, jobId: 'waiting' },
    );
    return { slack, queue, probes, redis, prefix };
  }

  /**
   * Two workers' probes while Slack is down, their intervals ticked by hand: `probed()` ticks once, a
   * moment after the last tick in real time (well within the mark the last probe left, which only the
   * worker holding the turn may pass), and waits for that tick's probe.
   */
  async function probingAnOutage() {
    const running = await deployment();
    const { slack, probes, redis, prefix } = running;
    slack.emulator.outage();
    startAll(probes, { tickedByHand: true });
    await probes[0]!.slackFailed('waiting');
    // A probe that Slack failed ends by marking the outage.
    const outageMark = `${prefix}:slack-probe:outage`;
    const probed = async () => {
      await redis.del(outageMark);
      await vi.advanceTimersByTimeAsync(PROBE_EVERY_MS);
      await waitFor(async () => (await redis.exists(outageMark)) === 1, 5_000, 'a probe');
    };
    return { ...running, probed };
  }

  /**
   * Two workers' probes, their intervals ticked by hand, the first of which has its first call held
   * unanswered; `arrives(call, ms)` says whether a held call arrives within `ms`.
   */
  async function probingWithHeldCalls() {
    const running = await deployment();
    const { slack, probes } = running;
    startAll(probes, { tickedByHand: true });
    await probes[0]!.slackFailed('waiting');
    const first = slack.emulator.hold('auth.test');
    const second = slack.emulator.hold('auth.test');
    cleanups.push(async () => {
      first.release();
      second.release();
    });
    await vi.advanceTimersByTimeAsync(PROBE_EVERY_MS);
    await first.reached;
    const arrives = (held: { reached: Promise<void> }, ms: number) =>
      Promise.race([
        held.reached.then(() => true),
        new Promise<boolean>((resolve) => setTimeout(() => resolve(false), ms)),
      ]);
    return { ...running, first, second, arrives };
  }

  it('leaves the waiting syncs to their backoff when Slack answered the probe all along', async () => {
    const { slack, queue, probes } = await deployment();
    startAll(probes);
    // One method failing (or one message Slack cannot take) is no outage: releasing would retry it every
    // probe interval.
    await probes[0]!.slackFailed('waiting');
    await waitFor(() => slack.emulator.callsOf('auth.test').length >= 1, 20_000, 'a probe');
    await probes[1]!.slackFailed('waiting');
    await waitFor(() => slack.emulator.callsOf('auth.test').length >= 2, 20_000, 'a second probe');
    expect(await queue.getJobState('waiting')).toBe('delayed');
  });

  it('asks Slack once per interval across two workers while it fails, then releases the syncs that failed on it', async () => {
    const { slack, queue, probes } = await deployment();
    // A sync waiting on purpose (a post's outcome, a Retry-After, the next reconcile) keeps its time.
    await queue.add(
      'incident',
      { kind: 'incident', incidentId: 2 },
      { delay: 10 * 60_000, jobId: 'on-purpose' },
    );

    slack.emulator.outage();
    startAll(probes);
    await probes[0]!.slackFailed('waiting');
    await waitFor(() => slack.emulator.callsOf('auth.test').length >= 3, 20_000, 'three probes');
    const at = slack.emulator.callsOf('auth.test').map((c) => c.at);
    for (let i = 1; i < at.length; i++)
      expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(PROBE_EVERY_MS / 2);
    expect(await queue.getJobState('waiting')).toBe('delayed');

    slack.emulator.endOutage();
    await waitFor(
      async () => (await queue.getJobState('waiting')) === 'waiting',
      20_000,
      'the sync released',
    );
    expect(await queue.getJobState('on-purpose')).toBe('delayed');

    // A post sent during the outage whose timeout or 5xx arrives just after Slack returned is released too.
    await queue.add('incident', { kind: 'incident', incidentId: 3 }, { delay: 10 * 60_000, jobId: 'late' });
    await probes[1]!.slackFailed('late');
    await waitFor(
      async () => (await queue.getJobState('late')) === 'waiting',
      20_000,
      'the late failure released',
    );
  });

  it('asks Slack at every interval while it fails, not every other one: the worker that asked keeps its turn', async () => {
    const { slack, probed } = await probingAnOutage();
    for (let interval = 1; interval <= 3; interval++) {
      await probed();
      expect(slack.emulator.callsOf('auth.test')).toHaveLength(interval);
    }
  });

  it('leaves the turn with the worker whose probe Slack has not answered yet: no other worker asks meanwhile', async () => {
    const { second, arrives } = await probingWithHeldCalls();
    // An interval later in real time as well: a mark lasting one interval has lapsed by the next tick.
    await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS + 200));
    await vi.advanceTimersByTimeAsync(PROBE_EVERY_MS);
    expect(await arrives(second, 1000)).toBe(false);
  });

  it('hands the turn to another worker as the one holding it stops', async () => {
    const { slack, probes, probed } = await probingAnOutage();
    await probed();
    await probes[0]!.stop();
    await probed();
    expect(slack.emulator.callsOf('auth.test')).toHaveLength(2);
  });

  it('leaves the turn to another worker an interval and a half after its last call when the one holding it died', async () => {
    const { slack, probes, probed } = await probingAnOutage();
    await probed();
    // Both workers' intervals end, as at a crash; the second's starts again.
    vi.clearAllTimers();
    await probes[1]!.stop();
    probes[1]!.start();
    await new Promise((resolve) => setTimeout(resolve, PROBE_EVERY_MS * 1.5 + 200));
    await probed();
    expect(slack.emulator.callsOf('auth.test')).toHaveLength(2);
  });

  it("keeps a stopping worker's turn until its call is over: no second call meanwhile, then the other asks", async () => {
    const { probes, redis, prefix, first, second, arrives } = await probingWithHeldCalls();
    await probes[0]!.stop();
    await vi.advanceTimersByTimeAsync(PROBE_EVERY_MS);
    expect(await arrives(second, 1000)).toBe(false);

    first.release();
    const turn = `${prefix}:slack-probe:probe`;
    await waitFor(async () => (await redis.exists(turn)) === 0, 5_000, 'the turn given up');
    // Slack answered the first call, which cleared the failures: a new one makes the other worker probe.
    await probes[1]!.slackFailed('waiting');
    await vi.advanceTimersByTimeAsync(PROBE_EVERY_MS);
    expect(await arrives(second, 10_000)).toBe(true);
  });
});
