import { afterEach, describe, expect, it } from 'vitest';
import { ESCALATION_QUEUE, type EscalationJob } from '../../src/queues/escalationJobs.js';
import { HEALTH_QUEUE, type HealthJob } from '../../src/queues/healthJobs.js';
import {
  INCIDENT_TASKS_QUEUE,
  type IncidentTask,
  QueuedIncidentEffects,
} from '../../src/queues/incidentTasks.js';
import { createQueue, createSlackSyncQueue, createWorkerRedis } from '../../src/queues/queues.js';
import { clearRedisPrefix, redisUrl, uniquePrefix } from '../support/services.js';

describe('the queued effects of resolving an incident', () => {
  const cleanups: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('drops its reminders, due or not, and no other incident’s', async () => {
    const prefix = uniquePrefix();
    const redis = createWorkerRedis(redisUrl());
    const tasks = createQueue<IncidentTask>(INCIDENT_TASKS_QUEUE, redis, prefix);
    const queues = [
      tasks,
      createSlackSyncQueue(redis, prefix),
      createQueue<EscalationJob>(ESCALATION_QUEUE, redis, prefix),
      createQueue<HealthJob>(HEALTH_QUEUE, redis, prefix),
    ] as const;
    cleanups.push(
      () => redis.quit(),
      () => Promise.all(queues.map((q) => q.close())),
      () => clearRedisPrefix(prefix),
    );
    const effects = new QueuedIncidentEffects(
      queues[1],
      tasks,
      queues[2],
      { pagesChanged: async () => {} },
      queues[3],
    );
    const later = new Date(Date.now() + 3_600_000);
    await effects.updateDue(7, 1, later);
    // Due already, and not yet taken: waiting, not delayed.
    await effects.commanderDue(7, new Date());
    await effects.updateDue(8, 1, later);
    await effects.commanderDue(8, new Date());

    await effects.resolved(7);

    const left = await tasks.getJobs(['delayed', 'waiting', 'prioritized']);
    expect(left.map((job) => job.id).sort()).toEqual(['commander-reminder-8', 'update-reminder-8']);
  });
});
