import type pg from 'pg';
import {
  type BelongingIncident,
  chosenIncident,
  type IncidentChoice,
  incidentsOfChannel,
} from '../incidents/incidentOfChannel.js';

/** Several incidents are open where the command was typed: its typist is asked which it is for. */
export interface ChooseIncident {
  choose: { incidents: IncidentChoice[]; more: number };
}

/** What /action and /health answer: a sentence, or the question of which incident. */
export type CommandAnswer = string | ChooseIncident;

/**
 * The incident a command typed in `channelId` belongs to: the one chosen (`incidentId`, from a choice
 * button), the channel's own, or the one open incident of a shared channel; undefined when none is.
 */
export async function incidentOfCommand(
  pool: pg.Pool,
  ctx: { channelId: string; incidentId?: number },
): Promise<BelongingIncident | undefined | ChooseIncident> {
  if (ctx.incidentId !== undefined) return chosenIncident(pool, ctx.channelId, ctx.incidentId);
  const found = await incidentsOfChannel(pool, ctx.channelId);
  if (found.kind === 'several') return { choose: { incidents: found.incidents, more: found.more } };
  return found.kind === 'one' ? found.incident : undefined;
}

export const isChoice = (value: unknown): value is ChooseIncident =>
  typeof value === 'object' && value !== null && 'choose' in value;
