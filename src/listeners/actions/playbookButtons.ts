import { openActionRequest } from '../../approvals/openRequest.js';
import { checkRequester } from '../../approvals/policy.js';
import { ALREADY_HANDLED } from '../../db/slackRequests.js';
import { requestHealthChecks } from '../../health/requests.js';
import { IncidentError } from '../../incidents/errors.js';
import { chosenMove, MOVE_ACTION_ID, readMoveValue } from '../../playbooks/playbooks.js';
import { incidentRef } from '../../primitives/ids.js';
import { incidentClickedOn } from '../clicks.js';
import type { ListenerDeps } from '../deps.js';
import { type Click, explain, tellClicker } from '../replies.js';
import type { Listeners } from '../router.js';

/**
 * The first moves on an incident's root message, as its playbook offers them: a check runs and posts its
 * result in the thread; an action opens the same approval request as `/action`, for that incident. The
 * move is read again from the config and the incident's labels, never taken from the button.
 */
export function registerPlaybookButtons(listeners: Listeners, deps: ListenerDeps): void {
  listeners.action(MOVE_ACTION_ID, async ({ ack, body, action }) => {
    await ack();
    const click = body as unknown as Click;
    try {
      const value = readMoveValue((action as { value?: string }).value);
      const incident = await incidentClickedOn(deps.pool, click, value?.incidentId);
      if (incident.state === 'resolved')
        throw new IncidentError('ALREADY_RESOLVED', `${incidentRef(incident.id)} is already resolved.`);
      const { playbook, move } = chosenMove(deps.config, incident, value!.kind, value!.name);
      const requestKey = `click:${click.trigger_id}`;
      if (move.kind === 'check') {
        const queued = await requestHealthChecks(
          deps,
          {
            services: [playbook.service],
            checks: [move.name],
            channelId: incident.channelId!,
            threadTs: incident.rootTs!,
            requestedBy: click.user.id,
            incidentId: incident.id,
          },
          requestKey,
        );
        if (!queued) return await tellClicker(deps.slack, click, ALREADY_HANDLED);
        return await tellClicker(
          deps.slack,
          click,
          `Running ${move.name} of ${playbook.service} for ${incidentRef(incident.id)}; the result follows in its thread.`,
        );
      }
      // From the members last read: the answer waits for no Slack call.
      checkRequester(move.definition, playbook.service, click.user.id, deps.membership);
      const { said } = await openActionRequest(deps, {
        definition: move.definition,
        service: playbook.service,
        params: move.params,
        requestedBy: click.user.id,
        channelId: incident.channelId!,
        incident: { id: incident.id, rootTs: incident.rootTs },
        requestKey,
        // Two people pressing it at 3 a.m. want one request, not two runs.
        unlessOpen: true,
      });
      await tellClicker(deps.slack, click, said);
    } catch (err) {
      await tellClicker(deps.slack, click, explain(err, '', deps.logger));
    }
  });
}
