import { DelayedError, type Job, type Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type pg from 'pg';
import { remindDegradation } from '../actions/degradation.js';
import type { AlertmanagerApi } from '../alertmanager/alertmanagerApi.js';
import { leftOutAlertsDue, resolveLeftOutAlerts } from '../alerts/leftOutAlerts.js';
import type { FileConfig } from '../config/file.js';
import { channelRefusal, moveToFallbackChannel } from '../incidents/channelFallback.js';
import {
  attachChannel,
  channelsUnsettled,
  channelTaken,
  dedicatedChannelName,
  loadChannelTask,
  recordAnnouncement,
  settleChannel,
} from '../incidents/channels.js';
import { loadSnapshot } from '../incidents/incidentStore.js';
import {
  type GeneratedPostmortem,
  generatePostmortem,
  postmortemAsked,
  postmortemRefused,
  postmortemsAsked,
  revisionInDoubt,
  uploadPostmortem,
} from '../incidents/postmortem.js';
import { remindersDue, remindMissingCommander, remindOverdueUpdate } from '../incidents/reminders.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { cappedExponentialBackoff } from '../queues/backoff.js';
import {
  INCIDENT_TASKS_QUEUE,
  type IncidentTask,
  type QueuedIncidentEffects,
  type ScheduledTask,
  SWEEP_EVERY_MS,
  SWEPT_AHEAD_MS,
} from '../queues/incidentTasks.js';
import { keepSchedules, sweepSchedule } from '../queues/jobSchedules.js';
import type { TemplateSet } from '../render/templates.js';
import { endSilenceIfDue, liveSilenceEnds } from '../silences/silences.js';
import { SlackOutcomePendingError, SlackRateLimitedError, SlackRejectedError } from '../slack/errors.js';
import { postOnce } from '../slack/postOnce.js';
import type { SlackRateLimiter } from '../slack/rateLimiter.js';
import type { SlackApi } from '../slack/slackApi.js';
import { UserNames } from '../slack/userNames.js';
import { incidentView } from '../views/incident.js';
import { instrumented } from './instrumented.js';

const MAX_NAME_ATTEMPTS = 20;
const ROOT_WAIT_MS = 1000;

export interface IncidentTasksWorkerDeps {
  pool: pg.Pool;
  config: FileConfig;
  /** Where silences live, to check one still runs before recording its end; undefined when not configured. */
  alertmanager?: AlertmanagerApi;
  slack: SlackApi;
  /** Slack's rate limits, shared by every process: the announcement takes its channel's turn. */
  limiter: SlackRateLimiter;
  templates: TemplateSet;
  effects: QueuedIncidentEffects;
  /** The queue this worker takes from: its sweep is scheduled there. */
  queue: Queue<IncidentTask>;
  connection: Redis;
  prefix: string;
  metrics: Metrics;
  logger: Logger;
}

/** Moves the job to run again at `at` (not a failure: no attempt is used). */
export async function runAgainAt(job: Job, token: string | undefined, at: Date): Promise<never> {
  await job.moveToDelayed(at.getTime(), token);
  throw new DelayedError();
}

export async function startIncidentTasksWorker(deps: IncidentTasksWorkerDeps): Promise<Worker<IncidentTask>> {
  const { pool, effects } = deps;
  // Remembered by this worker's process: each post-mortem asks Slack only for whom it has not named lately.
  const people = new UserNames(deps.slack, deps.logger);

  // A look Slack refuses (a token without channels:read, from an install before it) finds nothing: the
  // next name is made, as before the look, rather than no channel at all.
  const ownChannels = (incidentId: number, nameOf: (attempt: number) => string) =>
    deps.slack
      .ownChannelsNamed(new Set(Array.from({ length: MAX_NAME_ATTEMPTS }, (_, i) => nameOf(i + 1))))
      .catch((err: unknown) => {
        if (!(err instanceof SlackRejectedError)) throw err;
        deps.logger.warn(
          { err, incidentId },
          "Slack refused a look for the incident's channel among the bot's own; the next name is made",
        );
        return new Map<string, string>();
      });

  const createChannel = async (incidentId: number) => {
    const task = await loadChannelTask(pool, incidentId);
    if (!task) return;
    let channelId = task.channelId;
    const nameOf = (attempt: number) => dedicatedChannelName(task.title, task.createdAt, attempt);
    /** The bot's own channels of this incident's names, looked up at the first name taken. */
    let own: Map<string, string> | undefined;
    for (let attempt = 1; !channelId; attempt++) {
      const name = nameOf(attempt);
      try {
        channelId = (await deps.slack.createChannel(name)).id;
      } catch (err) {
        if (err instanceof SlackRejectedError && err.slackError === 'name_taken') {
          // Looked up, not made again: an earlier try whose answer was lost (a timeout, a 5xx after the
          // fact), or a run Redis lost midway, may have made it. Another incident's is not taken.
          own ??= await ownChannels(incidentId, nameOf);
          const ownId = own.get(name);
          if (ownId && !(await channelTaken(pool, ownId))) channelId = ownId;
          if (channelId || attempt < MAX_NAME_ATTEMPTS) continue;
        }
        // Slack will not make it (restricted_action, no name left…): show the incident where it was
        // announced rather than nowhere; the root message says why.
        if (!(err instanceof SlackRejectedError)) throw err;
        const announced = task.announcementChannelId !== null;
        const fallback = task.announcementChannelId ?? deps.config.slack.defaultChannel;
        const version = await moveToFallbackChannel(pool, incidentId, fallback, err.slackError);
        if (version !== undefined) await effects.changed(incidentId, version);
        deps.metrics.slackChannelRefusals.inc({ error: err.slackError });
        deps.logger.warn(
          { err, incidentId, channel: fallback },
          `Slack did not create the incident's channel; it is shown in the ${announced ? 'announcement' : 'default'} channel`,
        );
        return;
      }
    }
    if (!task.channelId) await effects.changed(incidentId, await attachChannel(pool, incidentId, channelId));
    // The incident runs in its channel from here: a refusal of what follows (a declarer Slack will not
    // invite, an announcement channel the bot is not in) is told to the log, not tried again for hours.
    const refused = (what: string, channel: string) => (err: unknown) => {
      if (!(err instanceof SlackRejectedError)) throw err;
      deps.logger.warn({ err, incidentId, channel }, `Slack refused ${what}`);
    };
    if (task.declaredBy)
      await deps.slack
        .invite(channelId, [task.declaredBy])
        .catch(refused("to invite the declarer into the incident's channel", channelId));
    if (task.announcementChannelId && !task.announcementTs) {
      const snapshot = await loadSnapshot(pool, incidentId, 0);
      const message = deps.templates.renderMessage('incident-announcement', {
        incident: incidentView(snapshot!),
        channelId,
      });
      const announcement = task.announcementChannelId;
      // Once, as every post: an earlier try whose answer was lost is looked up, not posted again.
      const client = await pool.connect();
      try {
        await postOnce(
          { slack: deps.slack, limiter: deps.limiter, limits: deps.config.slack.rateLimits },
          client,
          {
            eventType: 'incident_announcement',
            subjectId: incidentId,
            channel: announcement,
            version: 1,
            payload: { incident_id: incidentId },
            message,
          },
          (posted) => recordAnnouncement(client, incidentId, posted.ts),
        ).catch(refused("the incident's announcement", announcement));
      } finally {
        client.release();
      }
    }
    await settleChannel(pool, incidentId);
  };

  const postmortem = async (job: Job<IncidentTask>, token: string | undefined) => {
    const task = job.data as Extract<IncidentTask, { kind: 'postmortem' }>;
    if (task.swept && task.revision === undefined && !(await postmortemAsked(pool, task.incidentId))) return;
    const snapshot = await loadSnapshot(pool, task.incidentId, 0);
    if (!snapshot) return;
    // The file goes into the incident's thread, which needs its root message first.
    if (!snapshot.incident.rootTs || !snapshot.incident.channelId)
      return runAgainAt(job, token, new Date(Date.now() + ROOT_WAIT_MS));
    // Generated once per job: a retried upload sends the same revision rather than a new one. A job
    // without one (the sweep's, its own lost) takes a revision whose upload may have been shown.
    let revision = task.revision ?? (await revisionInDoubt(pool, task.incidentId));
    let generated: GeneratedPostmortem | undefined;
    if (revision === undefined) {
      generated = await generatePostmortem(pool, deps.templates, task.incidentId, task.requestedBy, people);
      revision = generated.revision;
    }
    if (task.revision === undefined) await job.updateData({ ...task, revision });
    if (generated) await effects.changed(task.incidentId, generated.version);
    const document = generated ?? (await loadPostmortemDocument(pool, task.incidentId, revision));
    if (!document) return; // superseded by a newer revision, or uploaded already
    const uploaded = await uploadPostmortem(
      { slack: deps.slack, limiter: deps.limiter, limits: deps.config.slack.rateLimits },
      pool,
      {
        incidentId: task.incidentId,
        revision,
        channel: snapshot.incident.channelId,
        threadTs: snapshot.incident.rootTs,
        filename: document.filename,
        content: document.markdown,
      },
    ).then(
      () => true,
      (err: unknown) => {
        // A channel refusing the bot moves the incident (its sync does), and the next try uploads there.
        if (!(err instanceof SlackRejectedError) || channelRefusal(err)) throw err;
        deps.logger.error(
          { err, incidentId: task.incidentId, revision },
          "Slack refused the post-mortem's upload; it is not tried again",
        );
        return false;
      },
    );
    if (!uploaded) await postmortemRefused(pool, task.incidentId, revision);
  };

  // Postgres knows when each update and commander reminder is due and each silence ends, and which
  // incidents still wait for their channel or a post-mortem. A change leaves a reminder due further ahead
  // than SWEPT_AHEAD_MS to these sweeps; a job lost or never added would leave a reminder unsent, the root
  // saying 🔕 for ever, an incident shown nowhere or a post-mortem never written, and one left at a later
  // time (its move failed, or left to the sweeps) would come late. Those due before `before` (every one at
  // start) are scheduled, but for a job waiting out a retry's backoff.
  const sweep = async (before?: Date) => {
    const now = new Date();
    const due: Array<{ task: ScheduledTask; at: Date }> = [
      ...(await channelsUnsettled(pool)).map((incidentId) => ({
        task: { kind: 'create-channel' as const, incidentId },
        at: now,
      })),
      ...(await remindersDue(pool, before)).map(({ reminder, incidentId, dueAt }) => ({
        task: { kind: `${reminder}-reminder` as const, incidentId },
        at: dueAt,
      })),
      ...(await liveSilenceEnds(pool, before)).map((silence) => ({
        task: { kind: 'silence-end' as const, incidentId: silence.incidentId },
        at: silence.endsAt,
      })),
      ...(await postmortemsAsked(pool)).map(({ incidentId, requestedBy }) => ({
        task: { kind: 'postmortem' as const, incidentId, requestedBy, swept: true as const },
        at: now,
      })),
      ...(deps.alertmanager ? await leftOutAlertsDue(pool) : []).map(({ incidentId, receiver }) => ({
        task: { kind: 'left-out-alerts' as const, incidentId, receiver },
        at: now,
      })),
    ];
    // One that cannot be scheduled does not stop the others; one line says how many (Redis down: all).
    const failed: Array<{ task: ScheduledTask; err: unknown }> = [];
    for (const { task, at } of due)
      await effects.sweptTo(task, at).catch((err: unknown) => failed.push({ task, err }));
    if (failed.length > 0)
      deps.logger.warn(
        { err: failed[0]!.err, task: failed[0]!.task, failed: failed.length, of: due.length },
        'sweep: reminders, silence ends, channels, post-mortems or questions to Alertmanager were not scheduled; the next sweep tries again',
      );
  };

  const processor = async (job: Job<IncidentTask>, token?: string) => {
    const task = job.data;
    try {
      switch (task.kind) {
        case 'sweep':
          // Those due before the sweep after next: any due later is looked at again before its time.
          return await sweep(new Date(Date.now() + SWEPT_AHEAD_MS));
        case 'update-reminder': {
          const outcome = await remindOverdueUpdate(pool, deps.config, task.incidentId);
          if (outcome.version !== undefined) await effects.changed(task.incidentId, outcome.version);
          if (outcome.nextDueAt) await runAgainAt(job, token, outcome.nextDueAt);
          return;
        }
        case 'commander-reminder': {
          const outcome = await remindMissingCommander(pool, task.incidentId);
          if (outcome.version !== undefined) await effects.changed(task.incidentId, outcome.version);
          if (outcome.nextDueAt) await runAgainAt(job, token, outcome.nextDueAt);
          return;
        }
        case 'create-channel':
          return await createChannel(task.incidentId);
        case 'postmortem':
          return await postmortem(job, token);
        case 'silence-end': {
          const outcome = await endSilenceIfDue(pool, task.incidentId, deps.metrics, deps.alertmanager);
          if (outcome.version !== undefined) await effects.changed(task.incidentId, outcome.version);
          if (outcome.nextAt) await runAgainAt(job, token, outcome.nextAt);
          return;
        }
        case 'left-out-alerts': {
          // Configured when the job was queued; a restart without it leaves the incident open, as before.
          if (!deps.alertmanager) return;
          const outcome = await resolveLeftOutAlerts(pool, deps.alertmanager, task.incidentId, task.receiver);
          if (outcome.version !== undefined) await effects.changed(task.incidentId, outcome.version);
          if (outcome.resolved) {
            await effects.resolved(task.incidentId);
            const { severity, afterMs } = outcome.resolved;
            deps.metrics.timeToResolve.observe({ severity }, afterMs / 1000);
            deps.logger.info(
              { incidentId: task.incidentId },
              'resolved: Alertmanager has none of its alerts live any more',
            );
          }
          return;
        }
        case 'degradation-reminder': {
          const outcome = await remindDegradation(
            pool,
            task.service,
            deps.config.actions.degradationReminderAfter,
          );
          if (outcome.incidentId !== undefined && outcome.version !== undefined)
            await effects.changed(outcome.incidentId, outcome.version);
          if (outcome.nextDueAt) await runAgainAt(job, token, outcome.nextDueAt);
          return;
        }
      }
    } catch (err) {
      if (err instanceof DelayedError) throw err;
      if (err instanceof SlackRateLimitedError || err instanceof SlackOutcomePendingError)
        return runAgainAt(job, token, new Date(Date.now() + err.waitMs));
      deps.logger.warn({ err, task, jobId: job.id, attempt: job.attemptsMade + 1 }, 'incident task failed');
      throw err;
    }
  };

  const worker = new Worker<IncidentTask>(
    INCIDENT_TASKS_QUEUE,
    instrumented(INCIDENT_TASKS_QUEUE, deps, processor),
    {
      connection: deps.connection,
      prefix: deps.prefix,
      concurrency: 4,
      settings: { backoffStrategy: cappedExponentialBackoff },
    },
  );
  worker.on('error', (err) => deps.logger.error({ err }, 'incident tasks worker error'));
  await worker.waitUntilReady();
  await sweep();
  await keepSchedules(deps.queue, [sweepSchedule(SWEEP_EVERY_MS)], worker, deps.logger);
  return worker;
}

async function loadPostmortemDocument(pool: pg.Pool, incidentId: number, revision: number) {
  const { rows } = await pool.query<{ markdown: string }>(
    'SELECT markdown FROM postmortems WHERE incident_id = $1 AND revision = $2 AND slack_file_id IS NULL',
    [incidentId, revision],
  );
  return rows[0] ? { markdown: rows[0].markdown, filename: `INC-${incidentId}-postmortem.md` } : undefined;
}
