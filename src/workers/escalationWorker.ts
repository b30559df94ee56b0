import { DelayedError, type Job, type Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import { type EscalationDeps, escalationsDue, runEscalationStep } from '../escalation/engine.js';
import type { IncidentEffects } from '../incidents/lifecycle.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import type { PageEffects } from '../paging/pages.js';
import { ESCALATION_QUEUE, type EscalationJob, scheduleEscalationStep } from '../queues/escalationJobs.js';
import { keepSchedules, sweepSchedule } from '../queues/jobSchedules.js';
import { instrumented } from './instrumented.js';

// Steps whose job Redis lost (or whose scheduling a crash cut short) are found again within this long.
const SWEEP_EVERY_MS = 60_000;

export interface EscalationWorkerDeps extends EscalationDeps {
  queue: Queue<EscalationJob>;
  effects: Pick<IncidentEffects, 'changed'>;
  pages: PageEffects;
  connection: Redis;
  prefix: string;
  metrics: Metrics;
  logger: Logger;
}

export async function startEscalationWorker(deps: EscalationWorkerDeps): Promise<Worker<EscalationJob>> {
  const sweep = async () => {
    for (const due of await escalationsDue(deps)) await scheduleEscalationStep(deps.queue, due, due.at);
  };

  const processor = async (job: Job<EscalationJob>, token?: string) => {
    const task = job.data;
    if (task.kind === 'sweep') return sweep();
    const outcome = await runEscalationStep(deps, task);
    if (outcome.ran) {
      const { policy, step } = outcome.ran;
      deps.metrics.escalationSteps.inc({ policy, step: String(step) });
    }
    if (outcome.version !== undefined) await deps.effects.changed(task.incidentId, outcome.version);
    if (outcome.paged) await deps.pages.pagesChanged(task.incidentId);
    const { next } = outcome;
    if (!next) return;
    const { waitingSince } = outcome;
    if (next.step !== task.step)
      return scheduleEscalationStep(
        deps.queue,
        { ...next, ...(waitingSince ? { waitingSince } : {}) },
        next.at,
      );
    // Not due yet (added early, or its policy changed), or waiting for Slack to list the user groups it
    // calls (since when, kept in the job for whichever worker tries it next): this job waits, using no
    // attempt.
    if (waitingSince !== undefined && waitingSince !== task.waitingSince)
      await job.updateData({ ...task, waitingSince });
    await job.moveToDelayed(next.at.getTime(), token);
    throw new DelayedError();
  };

  const worker = new Worker<EscalationJob>(
    ESCALATION_QUEUE,
    instrumented(ESCALATION_QUEUE, deps, async (job, token) => {
      try {
        return await processor(job, token);
      } catch (err) {
        if (!(err instanceof DelayedError))
          deps.logger.warn({ err, task: job.data, jobId: job.id }, 'escalation job failed');
        throw err;
      }
    }),
    { connection: deps.connection, prefix: deps.prefix, concurrency: 4 },
  );
  worker.on('error', (err) => deps.logger.error({ err }, 'escalation worker error'));
  await worker.waitUntilReady();
  // Steps live in Postgres: a restart, or a Redis that lost its jobs, picks them up where they were.
  await sweep();
  await keepSchedules(deps.queue, [sweepSchedule(SWEEP_EVERY_MS)], worker, deps.logger);
  return worker;
}
