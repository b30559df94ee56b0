import { parseParamArgs, splitWords } from '../actions/params.js';
import { quoted } from '../render/mrkdwn.js';
import { CommandUsageError } from './incidentCommand.js';

/** `/action` and `/health`, parsed from the text Slack sends. Pure: no I/O. */
export type ActionCommand =
  | { name: 'help' }
  | { name: 'list' }
  | { name: 'cancel'; requestId: number }
  | { name: 'request'; action: string; service: string; params: Record<string, string> };

export const ACTION_USAGE =
  '/action <action> <service> [param=value …]  |  /action list  |  /action cancel ACT-n';
export const HEALTH_USAGE = '/health [service]';

export const ACTION_HELP = [
  '*/action* requests a remediation action; it runs once enough approvers click Approve.',
  '• `/action scale payments-api replicas=6`',
  '• `/action list`: requests waiting or running',
  '• `/action cancel ACT-12`: withdraw your own request',
].join('\n');

const REQUEST_ID = /^(?:ACT-)?([1-9]\d{0,8})$/i;
const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;

export function parseActionCommand(text: string): ActionCommand {
  const [first, ...rest] = splitWords(text.trim());
  const sub = first?.toLowerCase();
  if (!sub || sub === 'help') return { name: 'help' };
  if (sub === 'list') {
    if (rest.length > 0) throw new CommandUsageError('`/action list` takes nothing more.', ACTION_USAGE);
    return { name: 'list' };
  }
  if (sub === 'cancel') {
    const id = rest.length === 1 ? REQUEST_ID.exec(rest[0]!) : null;
    if (!id) throw new CommandUsageError('Name one request to cancel, like ACT-12.', ACTION_USAGE);
    return { name: 'cancel', requestId: Number(id[1]) };
  }
  const [service, ...params] = rest;
  if (!NAME.test(sub)) throw new CommandUsageError(`${quoted(first!)} is not an action name.`, ACTION_USAGE);
  if (!service || !NAME.test(service))
    throw new CommandUsageError('Name the service the action is for.', ACTION_USAGE);
  const parsed = parseParamArgs(params);
  if ('error' in parsed) throw new CommandUsageError(`${parsed.error}.`, ACTION_USAGE);
  return { name: 'request', action: sub, service, params: parsed.values };
}

/** `/health` or `/health payments-api`. */
export function parseHealthCommand(text: string): { service?: string } {
  const words = splitWords(text.trim());
  if (words.length === 0) return {};
  if (words.length > 1 || !NAME.test(words[0]!))
    throw new CommandUsageError('Name at most one service.', HEALTH_USAGE);
  return { service: words[0]! };
}
