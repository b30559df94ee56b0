import { ROLES, type Role } from '../primitives/role.js';
import { SEVERITIES, type Severity } from '../primitives/severity.js';
import { UPDATE_STATUSES, type UpdateStatus } from '../primitives/status.js';
import { quoted } from '../render/mrkdwn.js';

/** `/incident` subcommands, parsed from the text Slack sends. Pure: no I/O, so every rule is testable. */
export type IncidentCommand =
  | { name: 'help' }
  | { name: 'list' }
  | { name: 'stats'; range: StatsRange }
  | { name: 'declare'; severity: Severity; title: string }
  | { name: 'update'; incidentId?: number; status?: UpdateStatus; text?: string }
  | { name: 'severity'; incidentId?: number; severity: Severity }
  | { name: 'assign'; incidentId?: number; role: Role; userId: string }
  | { name: 'note'; incidentId?: number; text: string }
  | { name: 'timeline'; incidentId?: number }
  | { name: 'ack'; incidentId?: number }
  | { name: 'resolve'; incidentId?: number; resolution: string }
  | { name: 'postmortem'; incidentId?: number }
  /** `duration` as typed: its bounds are the config's (silences.maxDuration), checked by the handler. */
  | { name: 'silence'; incidentId?: number; duration: string; reason: string }
  | { name: 'extend'; incidentId?: number; duration: string }
  | { name: 'unsilence'; incidentId?: number };

/** The periods /incident stats looks back over, in days. */
export const STATS_RANGES = { '7d': 7, '30d': 30, '90d': 90 } as const;
export type StatsRange = keyof typeof STATS_RANGES;

export const INCIDENT_USAGE: Record<Exclude<IncidentCommand['name'], 'help'>, string> = {
  declare: '/incident declare P0|P1|P2|P3|P4 <title>',
  update:
    '/incident update [INC-n] [investigating|identified|monitoring] <what changed>  (no text: opens a form)',
  severity: '/incident severity [INC-n] P0|P1|P2|P3|P4',
  assign: '/incident assign [INC-n] commander|scribe|comms @user',
  note: '/incident note [INC-n] <text>',
  timeline: '/incident timeline [INC-n]',
  list: '/incident list',
  stats: '/incident stats [7d|30d|90d]  (default 7d: how many, how fast acknowledged and resolved)',
  ack: '/incident ack [INC-n]  (you have an alert-born incident: nobody else is called for it)',
  resolve: '/incident resolve [INC-n] <resolution>',
  postmortem: '/incident postmortem [INC-n]',
  silence:
    '/incident silence [INC-n] <duration like 30m, 2h, 1d> <reason>  (silences its alerts in Alertmanager)',
  extend: '/incident extend [INC-n] <duration>  (adds to the silence)',
  unsilence: '/incident unsilence [INC-n]',
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

/** The command's words; free text after them is taken from the original, line breaks and all. */
class Words {
  private readonly tokens: Array<{ word: string; at: number }>;
  private next = 0;

  constructor(private readonly text: string) {
    this.tokens = [...text.matchAll(/\S+/g)].map((m) => ({ word: m[0], at: m.index }));
  }

  get length(): number {
    return this.tokens.length - this.next;
  }

  peek(): string | undefined {
    return this.tokens[this.next]?.word;
  }

  shift(): string | undefined {
    const word = this.peek();
    if (word !== undefined) this.next++;
    return word;
  }

  /** The rest of the text: runs of spaces become one space; line breaks stay (notes can be several lines). */
  rest(): string {
    const token = this.tokens[this.next];
    if (!token) return '';
    return this.text
      .slice(token.at)
      .split(/\r?\n/)
      .map((line) => line.replace(/[ \t]+/g, ' ').trim())
      .join('\n')
      .trim();
  }
}

function takeIncidentId(args: Words): number | undefined {
  const first = args.peek();
  const match = first ? INCIDENT_ID.exec(first) : null;
  if (!match) return undefined;
  args.shift();
  return Number(match[1]);
}

function parseSeverity(word: string | undefined, usage: string): Severity {
  const upper = word?.toUpperCase();
  if (!upper) throw new CommandUsageError('Give a severity from P0 (production down) to P4.', usage);
  if (!(SEVERITIES as readonly string[]).includes(upper)) {
    throw new CommandUsageError(`${quoted(word!)} is not a severity: use P0, P1, P2, P3 or P4.`, usage);
  }
  return upper as Severity;
}

function restText(args: Words, what: string, usage: string, max = MAX_TEXT): string {
  const text = args.rest();
  if (!text) throw new CommandUsageError(`Say ${what}.`, usage);
  if (text.length > max) throw new CommandUsageError(`Keep ${what} under ${max} characters.`, usage);
  return text;
}

export function parseIncidentCommand(text: string): IncidentCommand {
  const args = new Words(text);
  const sub = args.shift()?.toLowerCase() ?? 'help';
  switch (sub) {
    case 'help':
      return { name: 'help' };
    case 'list':
      return { name: 'list' };
    case 'stats': {
      const usage = INCIDENT_USAGE.stats;
      const word = args.shift() ?? '7d';
      const range = word.toLowerCase();
      if (!Object.hasOwn(STATS_RANGES, range))
        throw new CommandUsageError(`${quoted(word)} is not a period: use 7d, 30d or 90d.`, usage);
      if (args.length > 0) throw new CommandUsageError('Only a period is expected.', usage);
      return { name: 'stats', range: range as StatsRange };
    }
    case 'declare': {
      const usage = INCIDENT_USAGE.declare;
      const severity = parseSeverity(args.shift(), usage);
      // A title is one line.
      return {
        name: 'declare',
        severity,
        title: restText(args, 'a title', usage, MAX_TITLE).replace(/\s+/g, ' '),
      };
    }
    case 'update': {
      const incidentId = takeIncidentId(args);
      const first = args.peek()?.toLowerCase();
      const status = (UPDATE_STATUSES as readonly string[]).includes(first ?? '')
        ? (first as UpdateStatus)
        : undefined;
      if (status) args.shift();
      const rest = args.rest();
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
          `${role ? `${quoted(role)} is not a role` : 'Name a role'}: commander, scribe or comms.`,
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
    case 'ack':
    case 'timeline':
    case 'postmortem': {
      const incidentId = takeIncidentId(args);
      if (args.length > 0)
        throw new CommandUsageError('Nothing but an incident id is expected.', INCIDENT_USAGE[sub]);
      return { name: sub, incidentId };
    }
    case 'silence': {
      const usage = INCIDENT_USAGE.silence;
      const incidentId = takeIncidentId(args);
      const duration = args.shift();
      if (!duration) throw new CommandUsageError('Say for how long, like 2h, and why.', usage);
      return { name: 'silence', incidentId, duration, reason: restText(args, 'why', usage, 500) };
    }
    case 'extend': {
      const incidentId = takeIncidentId(args);
      const duration = args.shift();
      if (!duration || args.length > 0)
        throw new CommandUsageError('Say by how long, like 2h, and nothing else.', INCIDENT_USAGE.extend);
      return { name: 'extend', incidentId, duration };
    }
    case 'unsilence': {
      const incidentId = takeIncidentId(args);
      if (args.length > 0)
        throw new CommandUsageError('Nothing but an incident id is expected.', INCIDENT_USAGE.unsilence);
      return { name: 'unsilence', incidentId };
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
      throw new CommandUsageError(`Unknown subcommand ${quoted(sub)}.`, INCIDENT_HELP);
  }
}
