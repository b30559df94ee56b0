import type pg from 'pg';
import { KeptRead, KeptReadsByKey } from '../db/keptRead.js';
import { ALREADY_HANDLED, onceForSlackRequest } from '../db/slackRequests.js';
import { acknowledgeIncident } from '../incidents/acknowledgement.js';
import { IncidentError } from '../incidents/errors.js';
import { INCIDENT_STATS_CHANNEL, incidentStats } from '../incidents/incidentStats.js';
import {
  listOpenIncidents,
  loadIncident,
  loadSnapshot,
  OPEN_INCIDENTS_CHANNEL,
} from '../incidents/incidentStore.js';
import {
  addNote,
  assignRole,
  changeSeverity,
  declareIncident,
  findIncident,
  type IncidentEffects,
  incidentNotFound,
  type LifecycleDeps,
  postStatusUpdate,
  type Resolution,
  resolveIncident,
} from '../incidents/lifecycle.js';
import { requestPostmortem } from '../incidents/postmortem.js';
import { INCIDENT_TIMELINE_CHANNEL, recentEntries } from '../incidents/timeline.js';
import { addLogContext } from '../observability/logContext.js';
import type { Metrics } from '../observability/metrics.js';
import { DAY_MS } from '../primitives/duration.js';
import type { SlackMessage } from '../render/blockKit.js';
import { escapeMrkdwn, slackDate, truncateForMrkdwn } from '../render/mrkdwn.js';
import type { TemplateSet } from '../render/templates.js';
import {
  extendSilence,
  parseSilenceDuration,
  SILENCES_NOT_CONFIGURED,
  type SilenceDeps,
  SilenceError,
  silenceIncident,
  unsilenceIncident,
} from '../silences/silences.js';
import { LIST_LIMIT, listView, TIMELINE_LIMIT, timelineView } from '../views/incident.js';
import { type IncidentStats, statsView } from '../views/incidentStats.js';
import { updateModal } from '../views/modals.js';
import {
  CommandUsageError,
  INCIDENT_HELP,
  INCIDENT_USAGE,
  type IncidentCommand,
  STATS_RANGES,
} from './incidentCommand.js';

/** What a command answers: a message only the caller sees, or a form to open. */
export type CommandReply = { ephemeral: SlackMessage | string } | { modal: Record<string, unknown> };

export interface CommandContext {
  userId: string;
  channelId: string;
  /** Slack's id for this one invocation: a retried delivery of it changes nothing twice. */
  triggerId: string;
}

/** What /incident list answers, kept while no open incident changes. */
export type KeptIncidentList = KeptRead<SlackMessage>;

export const keptIncidentList = (): KeptIncidentList =>
  new KeptRead(
    OPEN_INCIDENTS_CHANNEL,
    '/incident list is answered from memory',
    'every /incident list is read',
  );

/** What /incident timeline answers, by incident, kept while nothing it shows of that incident changes. */
export type KeptTimelines = KeptReadsByKey<SlackMessage>;

/**
 * How many incidents' timelines are kept: those asked about lately. An answer holds at most TIMELINE_LIMIT
 * entries, each cut to 400 characters: tens of kilobytes, so a few megabytes in all at most.
 */
const KEPT_TIMELINES = 100;

export const keptTimelines = (): KeptTimelines =>
  new KeptReadsByKey(
    INCIDENT_TIMELINE_CHANNEL,
    '/incident timeline is answered from memory',
    'every /incident timeline is read',
    KEPT_TIMELINES,
  );

/**
 * What /incident stats read for each period, and until when it holds as time passes (performance.now(),
 * ms): kept while no incident it counts or names changes, and until the first of the period's incidents
 * leaves it. What it shows of the time passing (the period's start, the times since an opening) counts
 * whole seconds: `shown` is its answer as of one second (ms since the epoch), rendered once for that
 * second whoever asks.
 */
export type KeptStats = KeptReadsByKey<{
  stats: IncidentStats;
  until: number;
  shown?: { second: number; message: SlackMessage };
}>;

export const keptStats = (): KeptStats =>
  new KeptReadsByKey(
    INCIDENT_STATS_CHANNEL,
    '/incident stats is answered from memory',
    'every /incident stats is read',
    Object.keys(STATS_RANGES).length,
  );

export interface IncidentCommandDeps extends LifecycleDeps, SilenceDeps {
  pool: pg.Pool;
  templates: TemplateSet;
  /** Asked by every /incident list, the open incidents change far less often: read once, answered often. */
  incidentList: KeptIncidentList;
  /** Asked of an incident again and again while it is worked on: read once for each of its changes. */
  timelines: KeptTimelines;
  /** Read for a period in three statements, the heaviest of the reads: once for each change. */
  stats: KeptStats;
  config: LifecycleDeps['config'] & SilenceDeps['config'];
  effects: IncidentEffects & SilenceDeps['effects'];
  metrics: Pick<Metrics, 'timeToAcknowledge' | 'timeToResolve'> & SilenceDeps['metrics'];
}

/** `by` acknowledges the incident (the command and the button): what to tell them. */
export async function acknowledge(
  deps: Pick<IncidentCommandDeps, 'pool' | 'effects' | 'metrics'>,
  incidentId: number,
  by: string,
  requestKey: string,
): Promise<string> {
  const result = await acknowledgeIncident(deps, incidentId, by, requestKey);
  deps.metrics.timeToAcknowledge.observe({ severity: result.severity }, result.afterMs / 1000);
  return `You acknowledged ${result.ref}: it is yours, and nobody else is called for it.`;
}

/** `by` resolves the incident (the command and the form); the time it took is measured. */
export async function resolve(
  deps: Pick<IncidentCommandDeps, 'pool' | 'config' | 'effects' | 'metrics'>,
  incidentId: number,
  resolution: string,
  by: string,
  requestKey: string,
): Promise<Resolution> {
  const result = await resolveIncident(deps, incidentId, resolution, by, requestKey);
  deps.metrics.timeToResolve.observe({ severity: result.severity }, result.afterMs / 1000);
  return result;
}

/** Carries out a parsed /incident command. Throws IncidentError or CommandUsageError for the caller to explain. */
export async function runIncidentCommand(
  deps: IncidentCommandDeps,
  command: IncidentCommand,
  ctx: CommandContext,
): Promise<CommandReply> {
  const say = (text: string): CommandReply => ({ ephemeral: text });
  const requestKey = `command:${ctx.triggerId}`;
  const target = async (incidentId: number | undefined) => {
    const { id } = await findIncident(deps.pool, {
      ...(incidentId !== undefined ? { id: incidentId } : {}),
      channelId: ctx.channelId,
    });
    addLogContext({ incidentId: id });
    return id;
  };
  /**
   * The incident a change or the timeline is for. Named (INC-n), it goes to the use case as typed, not
   * looked up: the statement that makes the change, or reads the timeline, finds an incident there is none
   * of missing, so a look first would only add a round trip to what the person waits for.
   */
  const namedTarget = async (incidentId: number | undefined) => {
    if (incidentId === undefined) return target(undefined);
    addLogContext({ incidentId });
    return incidentId;
  };

  /** The incident a silence command means, once there is an Alertmanager to write silences to. */
  const silenceTarget = (incidentId: number | undefined) => {
    if (!deps.alertmanager) throw new SilenceError('SILENCES_NOT_CONFIGURED', SILENCES_NOT_CONFIGURED);
    return target(incidentId);
  };
  const silenceInput = async (asked: { incidentId?: number; duration: string }) => ({
    incidentId: await silenceTarget(asked.incidentId),
    userId: ctx.userId,
    durationMs: parseSilenceDuration(asked.duration, deps.config.silences.maxDuration),
    requestKey,
  });

  switch (command.name) {
    case 'help':
      return say(INCIDENT_HELP);
    case 'list':
      return {
        ephemeral: await deps.incidentList.read(async () => {
          const { incidents, total } = await listOpenIncidents(deps.pool, LIST_LIMIT);
          return deps.templates.renderMessage('incident-list', listView(incidents, total));
        }),
      };
    case 'stats': {
      const days = STATS_RANGES[command.range];
      const kept = await deps.stats.read(
        command.range,
        async () => {
          // Timed on the monotonic clock: a wall clock stepped back would keep the answer past its time.
          const [now, begun] = [Date.now(), performance.now()];
          const read = await incidentStats(deps.pool, new Date(now - days * DAY_MS));
          const leaves = read.firstOpenedAt ? read.firstOpenedAt.getTime() + days * DAY_MS - now : Infinity;
          return { stats: read.stats, until: begun + leaves };
        },
        (kept) => performance.now() < kept.until,
      );
      const second = Math.floor(Date.now() / 1000) * 1000;
      if (kept.shown?.second !== second) {
        const view = statsView(kept.stats, days, new Date(second));
        kept.shown = { second, message: deps.templates.renderMessage('incident-stats', view) };
      }
      return { ephemeral: kept.shown.message };
    }
    case 'declare': {
      const result = await declareIncident(deps, {
        severity: command.severity,
        title: command.title,
        declaredBy: ctx.userId,
        channelId: ctx.channelId,
        requestKey,
      });
      addLogContext({ incidentId: result.incidentId });
      const where = deps.config.incidents.createChannel
        ? 'in a channel of its own (being created)'
        : 'in this channel';
      return say(
        `Declared ${result.ref} (${command.severity}) ${where}. Assign a commander: \`/incident assign ${result.ref} commander @someone\`.`,
      );
    }
    case 'update': {
      if (!command.text) {
        const id = await target(command.incidentId);
        const incident = (await loadIncident(deps.pool, id))!;
        if (incident.state === 'resolved')
          throw new IncidentError('ALREADY_RESOLVED', `INC-${id} is already resolved.`);
        // The status typed, if any, is the one the form offers.
        return {
          modal: updateModal({
            ...incident,
            ...(command.status ? { status: command.status } : {}),
            ref: `INC-${id}`,
          }),
        };
      }
      const result = await postStatusUpdate(deps, await namedTarget(command.incidentId), {
        text: command.text,
        ...(command.status ? { status: command.status } : {}),
        by: ctx.userId,
        requestKey,
      });
      return say(`Posted update #${result.number} to ${result.ref}.`);
    }
    case 'severity': {
      const result = await changeSeverity(
        deps,
        await namedTarget(command.incidentId),
        command.severity,
        ctx.userId,
        requestKey,
      );
      return say(`${result.ref} is now ${command.severity}.`);
    }
    case 'assign': {
      const result = await assignRole(
        deps,
        await namedTarget(command.incidentId),
        command.role,
        command.userId,
        ctx.userId,
        requestKey,
      );
      return say(`<@${command.userId}> is now ${command.role} of ${result.ref}.`);
    }
    case 'note': {
      const result = await addNote(
        deps,
        await namedTarget(command.incidentId),
        command.text,
        ctx.userId,
        requestKey,
      );
      return say(`Noted on the timeline of ${result.ref}.`);
    }
    case 'timeline': {
      const id = await namedTarget(command.incidentId);
      return {
        ephemeral: await deps.timelines.read(String(id), async () => {
          const snapshot = await loadSnapshot(deps.pool, id, 0);
          if (!snapshot) throw incidentNotFound(id);
          const { entries, total } = await recentEntries(deps.pool, id, TIMELINE_LIMIT);
          return deps.templates.renderMessage('incident-timeline', timelineView(snapshot, entries, total));
        }),
      };
    }
    case 'silence': {
      const input = await silenceInput(command);
      const silence = await silenceIncident(deps, { ...input, reason: command.reason });
      const matchers = silence.matchers.map((m) => `${m.name}=${m.value}`).join(', ');
      return say(
        `Silenced the alerts of INC-${input.incidentId} in Alertmanager until ${slackDate(silence.endsAt)} (matching \`${escapeMrkdwn(truncateForMrkdwn(matchers, 1000))}\`).`,
      );
    }
    case 'extend': {
      const input = await silenceInput(command);
      const silence = await extendSilence(deps, input);
      return say(`The silence of INC-${input.incidentId} now ends ${slackDate(silence.endsAt)}.`);
    }
    case 'unsilence': {
      const id = await silenceTarget(command.incidentId);
      await unsilenceIncident(deps, { incidentId: id, userId: ctx.userId, requestKey });
      return say(`Lifted the silence of INC-${id}: Alertmanager notifies its alerts again.`);
    }
    case 'ack':
      return say(await acknowledge(deps, await namedTarget(command.incidentId), ctx.userId, requestKey));
    case 'resolve': {
      const result = await resolve(
        deps,
        await namedTarget(command.incidentId),
        command.resolution,
        ctx.userId,
        requestKey,
      );
      return say(`Resolved ${result.ref}. The post-mortem skeleton: \`/incident postmortem ${result.ref}\`.`);
    }
    case 'postmortem': {
      const id = await target(command.incidentId);
      // Writing it posts a new revision: a replay must not post another.
      const requested = await onceForSlackRequest(deps.pool, requestKey, () =>
        requestPostmortem(deps.pool, deps.effects, id, ctx.userId),
      );
      if (!requested) throw new IncidentError('ALREADY_HANDLED', ALREADY_HANDLED);
      return say(`Writing the post-mortem skeleton of INC-${id}; it will appear in the incident's thread.`);
    }
  }
}

/** The usage line that goes with an error about `command`. */
export function usageFor(command: IncidentCommand | undefined, error: unknown): string {
  if (error instanceof CommandUsageError) return error.usage;
  if (!command || command.name === 'help') return INCIDENT_HELP;
  return INCIDENT_USAGE[command.name];
}
