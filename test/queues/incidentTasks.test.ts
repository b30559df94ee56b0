import { Worker } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { cappedExponentialBackoff } from '../../src/queues/backoff.js';
import { ESCALATION_QUEUE, type EscalationJob } from '../../src/queues/escalationJobs.js';
import { HEALTH_QUEUE, type HealthJob } from '../../src/queues/healthJobs.js';
import {
  type ConfiguredWork,
  INCIDENT_TASKS_QUEUE,
  type IncidentTask,
  QueuedIncidentEffects,
} from '../../src/queues/incidentTasks.js';
import { createQueue, createSlackSyncQueue, createWorkerRedis } from '../../src/queues/queues.js';
import { runAgainAt } from '../../src/workers/incidentTasksWorker.js';
import { clearRedisPrefix, redisUrl, uniquePrefix, waitFor } from '../support/services.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * The effects over queues of their own. `work`: what the config gives an incident to start and stop, all
 * of it by default. `pagesChanged` counts the incidents whose pages were to be brought in step.
 */
const effectsOn = (
  work: ConfiguredWork = { escalation: true, autoChecks: true, paging: true, alertmanagerApi: false },
) => {
  const prefix = uniquePrefix();
  const redis = createWorkerRedis(redisUrl());
  const tasks = createQueue<IncidentTask>(INCIDENT_TASKS_QUEUE, redis, prefix);
  const sync = createSlackSyncQueue(redis, prefix);
  const escalation = createQueue<EscalationJob>(ESCALATION_QUEUE, redis, prefix);
  const health = createQueue<HealthJob>(HEALTH_QUEUE, redis, prefix);
  cleanups.push(
    () => redis.quit(),
    () => Promise.all([tasks, sync, escalation, health].map((q) => q.close())),
    () => clearRedisPrefix(prefix),
  );
  const pagesChanged: number[] = [];
  const pages = {
    pagesChanged: async (incidentId: number) => {
      pagesChanged.push(incidentId);
    },
  };
  const effects = new QueuedIncidentEffects(sync, tasks, escalation, pages, health, work);
  return { effects, tasks, escalation, health, prefix, redis, pagesChanged };
};

describe('the queued effects of a new incident', () => {
  it("adds a new incident's reminders and an opening's first step each in one round trip to Redis", async () => {
    const { effects, redis, tasks, escalation } = effectsOn();
    // Past what a queue's first commands send: BullMQ asks for Redis's version and loads each script.
    await effects.updateDue(1, 0, new Date(Date.now() + 60_000));
    await effects.opened(1, 0);
    const sent = vi.spyOn(redis, 'sendCommand');
    await effects.updateDue(7, 0, new Date(Date.now() + 60_000), { newIncident: true });
    expect(sent).toHaveBeenCalledTimes(1);
    sent.mockClear();
    await effects.commanderDue(7, new Date(Date.now() + 90_000));
    expect(sent).toHaveBeenCalledTimes(1);
    sent.mockClear();
    // Its first escalation step, and its playbook's checks.
    await effects.opened(7, 0);
    expect(sent).toHaveBeenCalledTimes(2);
    expect(await tasks.getJobState('update-reminder-7')).toBe('delayed');
    expect(await tasks.getJobState('commander-reminder-7')).toBe('delayed');
    expect(await escalation.getJobState('step-7-0-0')).not.toBe('unknown');
  });

  it("leaves reminders due past the workers' next sweeps to them, with no round trip to Redis", async () => {
    const { effects, redis, tasks } = effectsOn();
    await effects.updateDue(1, 0, new Date(Date.now() + 60_000));
    const sent = vi.spyOn(redis, 'sendCommand');
    await effects.updateDue(7, 0, new Date(Date.now() + 3_600_000), { newIncident: true });
    await effects.commanderDue(7, new Date(Date.now() + 300_000));
    // A status update's next one, as far and no sooner than it was.
    await effects.updateDue(1, 1, new Date(Date.now() + 3_600_000), {
      wasDueAt: new Date(Date.now() + 60_000),
    });
    expect(sent).not.toHaveBeenCalled();
    expect(await tasks.getJobState('update-reminder-7')).toBe('unknown');
  });

  it('moves a reminder due sooner than it was, or after none was, however far, and schedules one when what was is not known', async () => {
    const { effects, redis, tasks } = effectsOn();
    await effects.updateDue(1, 0, new Date(Date.now() + 60_000));
    const sent = vi.spyOn(redis, 'sendCommand');
    // A severity raised: due in 15 minutes, not 60.
    const sooner = new Date(Date.now() + 900_000);
    await effects.updateDue(1, 1, sooner, { wasDueAt: new Date(Date.now() + 3_600_000) });
    expect(sent).toHaveBeenCalledTimes(1);
    const delay = (await tasks.getJob('update-reminder-1'))!.delay;
    expect(delay).toBeGreaterThan(800_000);
    expect(delay).toBeLessThanOrEqual(900_000);
    // Due again after none was (a severity with no interval): a job left may wait past the new time.
    sent.mockClear();
    await effects.updateDue(1, 1, new Date(Date.now() + 1_800_000), { wasDueAt: null });
    expect(sent).toHaveBeenCalledTimes(1);
    // A reopening: what its resolve left is not known.
    await effects.updateDue(2, 0, new Date(Date.now() + 3_600_000));
    expect(await tasks.getJobState('update-reminder-2')).toBe('delayed');
  });

  it('adds no escalation step where no policy can apply, and no playbook checks where no playbook has any', async () => {
    const { effects, redis, escalation, health } = effectsOn({
      escalation: false,
      autoChecks: false,
      paging: false,
      alertmanagerApi: false,
    });
    const sent = vi.spyOn(redis, 'sendCommand');
    await effects.opened(7, 0);
    expect(sent).not.toHaveBeenCalled();
    expect(await escalation.getJobState('step-7-0-0')).toBe('unknown');
    expect(await health.getJobState('playbook-checks-7-0')).toBe('unknown');
  });

  it('adds each of the two where the config has it', async () => {
    const steps = effectsOn({ escalation: true, autoChecks: false, paging: false, alertmanagerApi: false });
    await steps.effects.opened(7, 0);
    expect(await steps.escalation.getJobState('step-7-0-0')).not.toBe('unknown');
    expect(await steps.health.getJobState('playbook-checks-7-0')).toBe('unknown');
    const checks = effectsOn({ escalation: false, autoChecks: true, paging: false, alertmanagerApi: false });
    await checks.effects.opened(7, 0);
    expect(await checks.escalation.getJobState('step-7-0-0')).toBe('unknown');
    expect(await checks.health.getJobState('playbook-checks-7-0')).not.toBe('unknown');
  });
});

describe('the queued effects of a change', () => {
  it('queues its sync job in one round trip to Redis, with nothing recorded beside it', async () => {
    const { effects, redis, prefix } = effectsOn();
    // Past what a queue's first commands send: BullMQ asks for Redis's version and loads each script.
    await effects.changed(1, 1);
    const sent = vi.spyOn(redis, 'sendCommand');
    await effects.changed(7, 3);
    expect(sent).toHaveBeenCalledTimes(1);
    expect(await redis.exists(`${prefix}:slack-sync:incident-7-v3`)).toBe(1);
  });
});

describe('the queued effects of acknowledging an incident', () => {
  it.each(['acknowledged', 'resolved'] as const)(
    'drops its escalation steps still waiting and brings its pages in step, where the config has them (%s)',
    async (news) => {
      const { effects, escalation, pagesChanged } = effectsOn();
      await effects.opened(7, 0);
      await effects.opened(8, 0);
      await effects[news](7);
      expect(await escalation.getJobState('step-7-0-0')).toBe('unknown');
      expect(await escalation.getJobState('step-8-0-0')).not.toBe('unknown');
      expect(pagesChanged).toEqual([7]);
    },
  );

  it('neither looks for escalation steps nor brings pages in step where no policy can apply and no pager is configured', async () => {
    const { effects, redis, pagesChanged } = effectsOn({
      escalation: false,
      autoChecks: false,
      paging: false,
      alertmanagerApi: false,
    });
    const sent = vi.spyOn(redis, 'sendCommand');
    await effects.acknowledged(7);
    await effects.opened(7, 1);
    expect(sent).not.toHaveBeenCalled();
    expect(pagesChanged).toEqual([]);
  });

  it('does each of the two where the config has it', async () => {
    const steps = effectsOn({ escalation: true, autoChecks: false, paging: false, alertmanagerApi: false });
    await steps.effects.opened(7, 0);
    await steps.effects.acknowledged(7);
    expect(await steps.escalation.getJobState('step-7-0-0')).toBe('unknown');
    expect(steps.pagesChanged).toEqual([]);
    const pages = effectsOn({ escalation: false, autoChecks: false, paging: true, alertmanagerApi: false });
    const sent = vi.spyOn(pages.redis, 'sendCommand');
    await pages.effects.acknowledged(7);
    await pages.effects.opened(7, 1);
    expect(sent).not.toHaveBeenCalled();
    expect(pages.pagesChanged).toEqual([7, 7]);
  });
});

describe('the queued effects of resolving an incident', () => {
  it('leaves its reminders to run at their time, to find it resolved, without a round trip to Redis for them', async () => {
    const { effects, redis, tasks } = effectsOn({
      escalation: false,
      autoChecks: false,
      paging: false,
      alertmanagerApi: false,
    });
    const later = new Date(Date.now() + 90_000);
    await effects.updateDue(7, 1, later);
    await effects.commanderDue(7, later);
    const sent = vi.spyOn(redis, 'sendCommand');

    await effects.resolved(7);

    expect(sent).not.toHaveBeenCalled();
    const left = await tasks.getJobs(['delayed']);
    expect(left.map((job) => job.id).sort()).toEqual(['commander-reminder-7', 'update-reminder-7']);
  });
});

describe('the retries of an incident task', () => {
  // BullMQ's own exponential backoff has no cap: the 13th try of a channel through a Slack outage came
  // 34 minutes after the 12th, the 20th and last about three days after the 19th.
  it('back off as the syncs do, five minutes apart at most (and its jitter), for hours', async () => {
    const { effects, tasks } = effectsOn();
    await effects.channelNeeded(7);
    const job = await tasks.getJob('create-channel-7');
    expect(job!.opts).toMatchObject({ attempts: 100, backoff: { type: 'capped-exponential' } });
    const waits = Array.from({ length: 100 }, (_, i) => cappedExponentialBackoff(i + 1));
    expect(Math.max(...waits)).toBeLessThanOrEqual(6 * 60_000);
    expect(waits.reduce((sum, ms) => sum + ms, 0)).toBeGreaterThan(6 * 3_600_000);
  });
});

describe("the workers' sweep of an incident's tasks", () => {
  /** A worker that moves the job an hour ahead, as the incident tasks' worker does for Slack's Retry-After. */
  const waitingAnHour = async (
    tasks: ReturnType<typeof effectsOn>['tasks'],
    prefix: string,
    jobId: string,
  ) => {
    const worker = new Worker<IncidentTask>(
      INCIDENT_TASKS_QUEUE,
      (job, token) => runAgainAt(job, token, new Date(Date.now() + 3_600_000)),
      { connection: createWorkerRedis(redisUrl()), prefix },
    );
    cleanups.push(() => worker.close());
    await waitFor(
      async () => (await tasks.getJob(jobId))?.processedOn !== undefined,
      5_000,
      'the job run once',
    );
    await waitFor(async () => (await tasks.getJobState(jobId)) === 'delayed', 5_000, 'the job moved ahead');
    await worker.close();
  };

  // Moved to now, the channel was asked of Slack again at every sweep, each time answered 429 again.
  it("leaves a channel's job waiting out Slack's Retry-After, though it used no attempt", async () => {
    const { effects, tasks, prefix } = effectsOn();
    await effects.channelNeeded(7);
    await waitingAnHour(tasks, prefix, 'create-channel-7');
    await effects.sweptTo({ kind: 'create-channel', incidentId: 7 }, new Date());
    const job = await tasks.getJob('create-channel-7');
    expect(await job!.getState()).toBe('delayed');
    expect(job!.attemptsMade).toBe(0);
    expect(job!.delay).toBeGreaterThan(3_500_000);
  });
});
