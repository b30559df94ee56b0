import { DelayedError, type Job } from 'bullmq';
import { withLogContext } from '../observability/logContext.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';

type Processor<T> = (job: Job<T>, token?: string) => Promise<unknown>;

/**
 * Every worker's processor runs through this: its lines carry the job id and queue (and the incident,
 * where the job names one), and its time goes into the job duration histogram, by outcome: ok, delayed
 * (waiting for a limit or a lock is not a failure) or error. While it runs it counts in jobsRunning, which
 * tells a shutdown whether the workers wait for jobs or for Redis.
 */
export function instrumented<T>(
  queue: string,
  deps: { metrics: Metrics; logger: Logger },
  processor: Processor<T>,
): Processor<T> {
  return (job, token) => {
    const { incidentId } = job.data as { incidentId?: unknown };
    const ids = { jobId: String(job.id), queue, ...(typeof incidentId === 'number' ? { incidentId } : {}) };
    return withLogContext(ids, async () => {
      const started = performance.now();
      let outcome = 'error';
      deps.metrics.jobsRunning.inc({ queue });
      try {
        const result = await processor(job, token);
        outcome = 'ok';
        return result;
      } catch (err) {
        if (err instanceof DelayedError) outcome = 'delayed';
        throw err;
      } finally {
        deps.metrics.jobsRunning.dec({ queue });
        const seconds = (performance.now() - started) / 1000;
        deps.metrics.jobDuration.observe({ queue, outcome }, seconds);
        deps.logger.debug({ jobName: job.name, outcome, ms: Math.round(seconds * 10_000) / 10 }, 'job');
      }
    });
  };
}
