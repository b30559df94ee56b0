import { SEVERITIES, type Severity } from '../alerts/severity.js';
import { ROLES, type Role, UPDATE_STATUSES, type UpdateStatus } from '../incidents/lifecycle.js';

/** `/incident` subcommands, parsed from the text Slack sends. Pure: no I/O, so every rule is testable. */
export type IncidentCommand =
  | { name: 'help' }
  | { name: 'list' }
  | { name: 'declare'; severity: Severity; title: string }
  | { name: 'update'; incidentId?: number; status?: UpdateStatus; text?: string }
  | { name: 'severity'; incidentId?: number; severity: Severity }
  | { name: 'assign'; incidentId?: number; role: Role; userId: string }
  | { name: 'note'; incidentId?: number; text: string }
  | { name: 'timeline'; incidentId?: number }
  | { name: 'resolve'; incidentId?: number; resolution: string }
  | { name: 'postmortem'; incidentId?: number };

export const INCIDENT_USAGE: Record<Exclude<IncidentCommand['name'], 'help'>, string> = {
  declare: '/incident declare P0|P1|P2|P3|P4 <title>',
  update:
    '/incident update [INC-n] [investigating|identified|monitoring] <what changed>  (no text: opens a form)',
  severity: '/incident severity [INC-n] P0|P1|P2|P3|P4',
  assign: '/incident assign [INC-n] commander|scribe|comms @user',
  note: '/incident note [INC-n] <text>',
  timeline: '/incident timeline [INC-n]',
  list: '/incident list',
  resolve: '/incident resolve [INC-n] <resolution>',
  postmortem: '/incident postmortem [INC-n]',
};

export const INCIDENT_HELP = [
  '*/incident* runs incidents from Slack. In an incident channel the incident is implied; elsewhere name it (INC-42).',
  ...Object.values(INCIDENT_USAGE).map((u) => `• \`${u}\``),
  '• `/incident help`',
].join('\n');

export class CommandUsageError extends Error {
  constructor(
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = 'CommandUsageError';
  }
}

const MAX_TITLE = 200;
const MAX_TEXT = 3000;
const INCIDENT_ID = /^INC-(\d{1,9})$/i;
// Slack escapes mentions in command text as <@U123> or <@U123|name> (the command's should_escape setting).
const MENTION = /^<@([UW][A-Z0-9]{2,})(?:\|[^>]*)?>$/;

function words(text: string): string[] {
  return text.trim().split(/\s+/).filter(Boolean);
}

function takeIncidentId(args: string[]): number | undefined {
  const match = args[0] ? INCIDENT_ID.exec(args[0]) : null;
  if (!match) return undefined;
  args.shift();
  return Number(match[1]);
}

function parseSeverity(word: string | undefined, usage: string): Severity {
  const upper = word?.toUpperCase();
  if (!upper) throw new CommandUsageError('Give a severity from P0 (production down) to P4.', usage);
  if (!(SEVERITIES as readonly string[]).includes(upper)) {
    throw new CommandUsageError(`"${word}" is not a severity: use P0, P1, P2, P3 or P4.`, usage);
  }
  return upper as Severity;
}

function restText(args: string[], what: string, usage: string, max = MAX_TEXT): string {
  const text = args.join(' ').trim();
  if (!text) throw new CommandUsageError(`Say ${what}.`, usage);
  if (text.length > max) throw new CommandUsageError(`Keep ${what} under ${max} characters.`, usage);
  return text;
}

export function parseIncidentCommand(text: string): IncidentCommand {
  const args = words(text);
  const sub = args.shift()?.toLowerCase() ?? 'help';
  switch (sub) {
    case 'help':
      return { name: 'help' };
    case 'list':
      return { name: 'list' };
    case 'declare': {
      const usage = INCIDENT_USAGE.declare;
      const severity = parseSeverity(args.shift(), usage);
      return { name: 'declare', severity, title: restText(args, 'a title', usage, MAX_TITLE) };
    }
    case 'update': {
      const incidentId = takeIncidentId(args);
      const first = args[0]?.toLowerCase();
      const status = (UPDATE_STATUSES as readonly string[]).includes(first ?? '')
        ? (first as UpdateStatus)
        : undefined;
      if (status) args.shift();
      const rest = args.join(' ').trim();
      if (rest.length > MAX_TEXT) {
        throw new CommandUsageError(`Keep an update under ${MAX_TEXT} characters.`, INCIDENT_USAGE.update);
      }
      return { name: 'update', incidentId, ...(status ? { status } : {}), ...(rest ? { text: rest } : {}) };
    }
    case 'severity': {
      const incidentId = takeIncidentId(args);
      const severity = parseSeverity(args.shift(), INCIDENT_USAGE.severity);
      if (args.length > 0)
        throw new CommandUsageError('Only a severity is expected.', INCIDENT_USAGE.severity);
      return { name: 'severity', incidentId, severity };
    }
    case 'assign': {
      const usage = INCIDENT_USAGE.assign;
      const incidentId = takeIncidentId(args);
      const role = args.shift()?.toLowerCase();
      if (!role || !(ROLES as readonly string[]).includes(role)) {
        throw new CommandUsageError(
          `${role ? `"${role}" is not a role` : 'Name a role'}: commander, scribe or comms.`,
          usage,
        );
      }
      const mention = args.shift();
      const userId = mention ? MENTION.exec(mention)?.[1] : undefined;
      if (!userId || args.length > 0)
        throw new CommandUsageError('Mention exactly one person, like @alice.', usage);
      return { name: 'assign', incidentId, role: role as Role, userId };
    }
    case 'note': {
      const incidentId = takeIncidentId(args);
      return { name: 'note', incidentId, text: restText(args, 'what to note', INCIDENT_USAGE.note) };
    }
    case 'timeline':
    case 'postmortem': {
      const incidentId = takeIncidentId(args);
      if (args.length > 0)
        throw new CommandUsageError('Nothing but an incident id is expected.', INCIDENT_USAGE[sub]);
      return { name: sub, incidentId };
    }
    case 'resolve': {
      const incidentId = takeIncidentId(args);
      return {
        name: 'resolve',
        incidentId,
        resolution: restText(args, 'how it was resolved', INCIDENT_USAGE.resolve),
      };
    }
    default:
      throw new CommandUsageError(`Unknown subcommand "${sub}".`, INCIDENT_HELP);
  }
}
