import type { Queue } from 'bullmq';
import type pg from 'pg';
import { type ActionDefinition, actionDigest } from '../actions/catalog.js';
import type { ParamValue } from '../actions/drivers/driver.js';
import { incidentRef, requestRef } from '../primitives/ids.js';
import { type ActionJob, enqueueAction } from '../queues/actionJobs.js';
import { enqueueActionMessageSync, type SlackSyncJob } from '../queues/queues.js';
import { quoted } from '../render/mrkdwn.js';
import { type ActionRequest, createRequest } from './requests.js';

export interface OpenRequestDeps {
  pool: pg.Pool;
  actions: Queue<ActionJob>;
  slackSync: Queue<SlackSyncJob>;
}

export interface RequestToOpen {
  definition: ActionDefinition;
  service: string;
  /** Checked against the action's params already (validateParams). */
  params: Record<string, ParamValue>;
  requestedBy: string;
  channelId: string;
  /** The incident it is for: the request is posted in its thread. */
  incident?: { id: number; rootTs: string | null };
  /** The Slack request asking for it: a replay of that request opens nothing more. */
  requestKey: string;
  /** Refused while the incident has the same request open (a button two people may press at once). */
  unlessOpen?: boolean;
}

/**
 * Opens an approval request for an action, however it was asked for (`/action`, a playbook's button):
 * recorded pending, its dry run and expiry queued, its message posted by the sync. Nothing runs until
 * the approvers say so. Returns the request and the words that tell the requester.
 */
export async function openActionRequest(
  deps: OpenRequestDeps,
  input: RequestToOpen,
): Promise<{ request: ActionRequest; said: string }> {
  const { definition, service, params, incident } = input;
  const request = await createRequest(deps.pool, {
    incidentId: incident?.id ?? null,
    action: definition.name,
    service,
    params,
    actionDigest: actionDigest(definition),
    requestedBy: input.requestedBy,
    channelId: input.channelId,
    threadTs: incident?.rootTs ?? null,
    requiredApprovals: definition.approval.required,
    expiresAfterMs: definition.approval.expiresAfter,
    hasDryRun: definition.dryRun,
    requestKey: input.requestKey,
    ...(input.unlessOpen ? { unlessOpen: true } : {}),
  });
  // At once, as IncidentEffects are asked for: one round trip waited for, and a failure keeps none back.
  await Promise.all([
    definition.dryRun && enqueueAction(deps.actions, { kind: 'dry-run', requestId: request.id }),
    enqueueAction(deps.actions, { kind: 'expire', requestId: request.id }, definition.approval.expiresAfter),
    enqueueActionMessageSync(deps.slackSync, request.id, request.version),
  ]);
  const shown = Object.entries(params)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? quoted(v) : v}`)
    .join(' ');
  const forIncident = incident ? ` for ${incidentRef(incident.id)}` : '';
  const said = `Requested ${requestRef(request.id)}: ${definition.name} on ${service}${shown ? ` (${shown})` : ''}${forIncident}. ${definition.dryRun ? 'Running the dry run; the' : 'The'} approval request is posted${incident ? ' in the incident thread' : ' here'}.`;
  return { request, said };
}
