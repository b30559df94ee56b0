import { afterEach, describe, expect, it } from 'vitest';
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

  it('asks Slack once per interval across two workers while it fails, then releases the waiting syncs', async () => {
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
    // A sync waiting out a long backoff.
    await queue.add(
      'incident',
      { kind: 'incident', incidentId: 1 },
      { delay: 10 * 60_000, jobId: 'waiting' },
    );

    slack.emulator.outage();
    for (const probe of probes) {
      probe.start();
      cleanups.push(async () => probe.stop());
    }
    await probes[0]!.slackFailed();
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
  });
});
