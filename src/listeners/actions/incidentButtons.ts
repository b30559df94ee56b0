import { HEALTH_USAGE } from '../../commands/actionCommand.js';
import type { IncidentCommand } from '../../commands/incidentCommand.js';
import { acknowledge, usageFor } from '../../commands/incidentHandlers.js';
import { CONNECTION_TIMEOUT_MS, withClientWait } from '../../db/pool.js';
import { ALREADY_HANDLED, onceForSlackRequest } from '../../db/slackRequests.js';
import { requestHealthChecks } from '../../health/requests.js';
import { IncidentError } from '../../incidents/errors.js';
import { type Incident, incidentAtRoot } from '../../incidents/incidentStore.js';
import { requestPostmortem } from '../../incidents/postmortem.js';
import { addLogContext } from '../../observability/logContext.js';
import { incidentRef } from '../../primitives/ids.js';
import {
  activeSilence,
  checkSilenceable,
  proposeSilence,
  unsilenceIncident,
} from '../../silences/silences.js';
import { readIncidentId, resolveModal, updateModal } from '../../views/modals.js';
import { extendModal, silenceModal } from '../../views/silenceModals.js';
import { incidentClickedOn, isClickOn } from '../clicks.js';
import type { ListenerDeps } from '../deps.js';
import { type Click, explain, tellClicker } from '../replies.js';
import type { Listeners } from '../router.js';
import { unsilencedText } from '../views/silenceForm.js';

/** The buttons of an incident's root message. Each counts only from that message; refusals go to the clicker. */
export const INCIDENT_BUTTONS = {
  acknowledge: 'incident_acknowledge',
  postUpdate: 'incident_post_update',
  resolve: 'incident_resolve',
  postmortem: 'incident_postmortem',
  healthCheck: 'incident_health_check',
  silence: 'incident_silence',
  extendSilence: 'incident_extend_silence',
  unsilence: 'incident_unsilence',
} as const;

export function registerIncidentButtons(listeners: Listeners, deps: ListenerDeps): void {
  const { logger } = deps;

  /** The incident a click acts on: the one its value names, if it came from that incident's root message. */
  const clickedIncident = (click: Click, value: unknown): Promise<Incident> =>
    incidentClickedOn(deps.pool, click, readIncidentId(value));

  // Post update, Resolve, Silence and Extend open a form about an open incident; Slack allows that
  // within 3 s of the click. So their work waits for a busy pool's client no longer than before the
  // acknowledgement: the clicker is told the bot is busy, not shown an error once the form cannot open.
  const openFormButton = (
    actionId: string,
    command: IncidentCommand | undefined,
    form: (incident: Incident, click: Click) => Promise<Record<string, unknown>>,
  ) =>
    listeners.action(actionId, async ({ ack, body, action }) => {
      await ack();
      const click = body as unknown as Click;
      await withClientWait({ ms: CONNECTION_TIMEOUT_MS }, async () => {
        try {
          const incident = await clickedIncident(click, (action as { value?: string }).value);
          if (incident.state === 'resolved') {
            throw new IncidentError('ALREADY_RESOLVED', `${incidentRef(incident.id)} is already resolved.`);
          }
          await deps.slack.openView(click.trigger_id, await form(incident, click));
        } catch (err) {
          await tellClicker(deps.slack, click, explain(err, command ? usageFor(command, err) : '', logger));
        }
      });
    });
  openFormButton(INCIDENT_BUTTONS.postUpdate, { name: 'update' }, async (incident) =>
    updateModal({ ...incident, ref: incidentRef(incident.id) }),
  );
  openFormButton(INCIDENT_BUTTONS.resolve, { name: 'resolve', resolution: '' }, async (incident) => {
    const silence = await activeSilence(deps.pool, incident.id);
    return resolveModal({ id: incident.id, ref: incidentRef(incident.id), ...(silence ? { silence } : {}) });
  });
  openFormButton(INCIDENT_BUTTONS.silence, undefined, async (incident, click) => {
    const proposal = await proposeSilence(deps, { incidentId: incident.id, userId: click.user.id });
    const ref = incidentRef(incident.id);
    return silenceModal({ id: incident.id, ref, ...proposal }, deps.config.silences.maxDuration);
  });
  openFormButton(INCIDENT_BUTTONS.extendSilence, undefined, async (incident, click) => {
    const silence = await checkSilenceable(deps, {
      incidentId: incident.id,
      userId: click.user.id,
      silenced: true,
    });
    const ref = incidentRef(incident.id);
    return extendModal({ id: incident.id, ref, silence: silence! }, deps.config.silences.maxDuration);
  });

  listeners.action(INCIDENT_BUTTONS.acknowledge, async ({ ack, body, action }) => {
    await ack();
    const click = body as unknown as Click;
    try {
      const incident = await clickedIncident(click, (action as { value?: string }).value);
      const said = await acknowledge(deps, incident.id, click.user.id, `click:${click.trigger_id}`);
      await tellClicker(deps.slack, click, said);
    } catch (err) {
      await tellClicker(deps.slack, click, explain(err, '', logger));
    }
  });

  // Works on a resolved incident too: its root keeps the button while the silence lasts.
  listeners.action(INCIDENT_BUTTONS.unsilence, async ({ ack, body, action }) => {
    await ack();
    const click = body as unknown as Click;
    try {
      const incident = await clickedIncident(click, (action as { value?: string }).value);
      const requestKey = `click:${click.trigger_id}`;
      await unsilenceIncident(deps, { incidentId: incident.id, userId: click.user.id, requestKey });
      await tellClicker(deps.slack, click, unsilencedText(incident.id));
    } catch (err) {
      await tellClicker(deps.slack, click, explain(err, '', logger));
    }
  });

  listeners.action(INCIDENT_BUTTONS.postmortem, async ({ ack, body, action }) => {
    await ack();
    const click = body as unknown as Click;
    try {
      const incident = await clickedIncident(click, (action as { value?: string }).value);
      // Each request posts a new revision: a replayed click must not post another.
      const requested = await onceForSlackRequest(deps.pool, `click:${click.trigger_id}`, () =>
        requestPostmortem(deps.pool, deps.effects, incident.id, click.user.id),
      );
      if (!requested) throw new IncidentError('ALREADY_HANDLED', ALREADY_HANDLED);
      await tellClicker(
        deps.slack,
        click,
        `Writing the post-mortem skeleton of ${incidentRef(incident.id)}; it will appear in the thread.`,
      );
    } catch (err) {
      await tellClicker(deps.slack, click, explain(err, usageFor({ name: 'postmortem' }, err), logger));
    }
  });

  // Its value names a service, not the incident: the message it is on says which incident's thread.
  listeners.action(INCIDENT_BUTTONS.healthCheck, async ({ ack, body, action }) => {
    await ack();
    const click = body as unknown as Click;
    const service = (action as { value?: string }).value ?? '';
    const channelId = click.channel?.id;
    const ts = click.message?.ts;
    if (!Object.hasOwn(deps.config.services, service) || !channelId) return;
    try {
      const incident = ts ? await incidentAtRoot(deps.pool, channelId, ts) : undefined;
      if (incident === undefined || !isClickOn(click, { channelId, ts: ts! })) {
        const text = "This click does not come from an incident's own message, so it does nothing.";
        return await tellClicker(deps.slack, click, text);
      }
      addLogContext({ incidentId: incident });
      const key = `click:${click.trigger_id}`;
      const queued = await requestHealthChecks(
        deps,
        { services: [service], channelId, requestedBy: click.user.id, threadTs: ts!, incidentId: incident },
        key,
      );
      if (!queued) await tellClicker(deps.slack, click, ALREADY_HANDLED);
    } catch (err) {
      await tellClicker(deps.slack, click, explain(err, HEALTH_USAGE, logger));
    }
  });
}
