import { type Queue, Worker } from 'bullmq';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ESCALATION_QUEUE, type EscalationJob } from '../../src/queues/escalationJobs.js';
import { HEALTH_QUEUE, type HealthJob } from '../../src/queues/healthJobs.js';
import {
  INCIDENT_TASKS_QUEUE,
  type IncidentTask,
  type OpeningWork,
  QueuedIncidentEffects,
} from '../../src/queues/incidentTasks.js';
import { createQueue, createSlackSyncQueue, createWorkerRedis } from '../../src/queues/queues.js';
import { clearRedisPrefix, redisUrl, uniquePrefix, waitFor } from '../support/services.js';

const cleanups: Array<() => Promise<unknown>> = [];
afterEach(async () => {
  vi.restoreAllMocks();
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

/**
 * The effects over queues of their own; `tasks` may stand in for the reminders' queue. `starts`: what the
 * config gives an opening to start, both by default.
 */
const effectsOn = (
  wrap: (tasks: Queue<IncidentTask>) => Queue<IncidentTask> = (tasks) => tasks,
  starts: OpeningWork = { escalation: true, autoChecks: true },
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
  const pages = { pagesChanged: async () => {} };
  const effects = new QueuedIncidentEffects(sync, wrap(tasks), escalation, pages, health, starts);
  return { effects, tasks, escalation, health, prefix, redis };
};

describe('the queued effects of a new incident', () => {
  it("adds a new incident's update reminder and an opening's first step each in one round trip to Redis", async () => {
    const { effects, redis, tasks, escalation } = effectsOn();
    // Past what a queue's first commands send: BullMQ asks for Redis's version and loads each script.
    await effects.updateDue(1, 0, new Date(Date.now() + 60_000));
    await effects.opened(1, 0);
    const sent = vi.spyOn(redis, 'sendCommand');
    await effects.updateDue(7, 0, new Date(Date.now() + 3_600_000), { newIncident: true });
    expect(sent).toHaveBeenCalledTimes(1);
    sent.mockClear();
    // Its first escalation step, and its playbook's checks.
    await effects.opened(7, 0);
    expect(sent).toHaveBeenCalledTimes(2);
    expect(await tasks.getJobState('update-reminder-7')).toBe('delayed');
    expect(await escalation.getJobState('step-7-0-0')).not.toBe('unknown');
  });

  it('adds no escalation step where no policy can apply, and no playbook checks where no playbook has any', async () => {
    const { effects, redis, escalation, health } = effectsOn(undefined, {
      escalation: false,
      autoChecks: false,
    });
    const sent = vi.spyOn(redis, 'sendCommand');
    await effects.opened(7, 0);
    expect(sent).not.toHaveBeenCalled();
    expect(await escalation.getJobState('step-7-0-0')).toBe('unknown');
    expect(await health.getJobState('playbook-checks-7-0')).toBe('unknown');
  });

  it('adds each of the two where the config has it', async () => {
    const steps = effectsOn(undefined, { escalation: true, autoChecks: false });
    await steps.effects.opened(7, 0);
    expect(await steps.escalation.getJobState('step-7-0-0')).not.toBe('unknown');
    expect(await steps.health.getJobState('playbook-checks-7-0')).toBe('unknown');
    const checks = effectsOn(undefined, { escalation: false, autoChecks: true });
    await checks.effects.opened(7, 0);
    expect(await checks.escalation.getJobState('step-7-0-0')).toBe('unknown');
    expect(await checks.health.getJobState('playbook-checks-7-0')).not.toBe('unknown');
  });
});

describe('the queued effects of resolving an incident', () => {
  it('drops its reminders still waiting for their time, and no other incident’s', async () => {
    const { effects, tasks } = effectsOn();
    const later = new Date(Date.now() + 3_600_000);
    await effects.updateDue(7, 1, later);
    // Due already, and not yet taken: left to run, and find the incident resolved (or reopened meanwhile).
    await effects.commanderDue(7, new Date());
    await effects.updateDue(8, 1, later);

    await effects.resolved(7);

    const left = await tasks.getJobs(['delayed', 'waiting', 'prioritized']);
    expect(left.map((job) => job.id).sort()).toEqual(['commander-reminder-7', 'update-reminder-8']);
  });

  it('leaves a reminder a worker took between the look and the removal to it, and does not fail', async () => {
    let release = () => {};
    const running = new Promise<void>((r) => {
      release = r;
    });
    const { effects, prefix } = effectsOn((queue) =>
      Object.assign(Object.create(queue) as Queue<IncidentTask>, {
        // The reminder falls due just as the incident is resolved: a worker takes it once it is looked at.
        getJobState: async (id: string) => {
          const state = await queue.getJobState(id);
          const connection = createWorkerRedis(redisUrl());
          const worker = new Worker<IncidentTask>(INCIDENT_TASKS_QUEUE, () => running, {
            connection,
            prefix,
          });
          cleanups.push(
            () => connection.quit(),
            async () => {
              release();
              await worker.close();
            },
          );
          await waitFor(async () => (await queue.getJobCounts('active')).active === 1, 20_000, 'taken');
          return state;
        },
      }),
    );
    await effects.updateDue(7, 1, new Date(Date.now() + 300));

    await expect(effects.resolved(7)).resolves.toBeUndefined();
  });
});
