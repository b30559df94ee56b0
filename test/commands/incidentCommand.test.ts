import { describe, expect, it } from 'vitest';
import {
  CommandUsageError,
  INCIDENT_HELP,
  INCIDENT_USAGE,
  parseIncidentCommand,
} from '../../src/commands/incidentCommand.js';
import { quoted } from '../../src/render/mrkdwn.js';

/** The CommandUsageError that parsing `text` throws, with its message and the usage shown with it. */
function refusal(text: string): { message: string; usage: string } {
  try {
    parseIncidentCommand(text);
  } catch (err) {
    if (err instanceof CommandUsageError) return { message: err.message, usage: err.usage };
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(text)} to be refused`);
}

describe('help', () => {
  it.each(['', '   ', '\n\t ', 'help', 'HELP', '  Help  ', 'help me please'])('reads %j as help', (text) => {
    expect(parseIncidentCommand(text)).toEqual({ name: 'help' });
  });

  it('lists every usage line in the help text', () => {
    for (const usage of Object.values(INCIDENT_USAGE)) expect(INCIDENT_HELP).toContain(`\`${usage}\``);
    expect(INCIDENT_HELP).toContain('`/incident help`');
  });
});

describe('unknown subcommands', () => {
  it('are refused with the subcommand (lowercased) and the whole help as usage', () => {
    expect(refusal('frobnicate P1 x')).toEqual({
      message: 'Unknown subcommand "frobnicate".',
      usage: INCIDENT_HELP,
    });
    expect(refusal('  DECLAR  ')).toEqual({ message: 'Unknown subcommand "declar".', usage: INCIDENT_HELP });
  });

  it('refuse an incident id in place of a subcommand', () => {
    expect(refusal('INC-42 timeline')).toEqual({
      message: 'Unknown subcommand "inc-42".',
      usage: INCIDENT_HELP,
    });
  });

  it('throw a CommandUsageError, named as such', () => {
    expect(() => parseIncidentCommand('nope')).toThrow(CommandUsageError);
    try {
      parseIncidentCommand('nope');
    } catch (err) {
      expect((err as Error).name).toBe('CommandUsageError');
    }
  });
});

describe('list', () => {
  it.each(['list', 'LIST', '  list  '])('reads %j', (text) => {
    expect(parseIncidentCommand(text)).toEqual({ name: 'list' });
  });
});

describe('stats', () => {
  it.each([
    ['stats', '7d'],
    ['stats 7d', '7d'],
    ['STATS 30D', '30d'],
    ['  stats   90d  ', '90d'],
  ])('reads %j', (text, range) => {
    expect(parseIncidentCommand(text)).toEqual({ name: 'stats', range });
  });

  it.each(['1y', '7', '14d', '0d', '-7d', '<!channel>', 'constructor', '__proto__', 'toString'])(
    'refuses the period %j, saying which there are',
    (range) => {
      expect(refusal(`stats ${range}`)).toEqual({
        message: `${quoted(range)} is not a period: use 7d, 30d or 90d.`,
        usage: INCIDENT_USAGE.stats,
      });
    },
  );

  it('refuses anything after the period', () => {
    expect(refusal('stats 7d 30d').message).toBe('Only a period is expected.');
  });
});

describe('declare', () => {
  const usage = INCIDENT_USAGE.declare;

  it('reads the severity and the title', () => {
    expect(parseIncidentCommand('declare P1 Checkout is down')).toEqual({
      name: 'declare',
      severity: 'P1',
      title: 'Checkout is down',
    });
  });

  it('is case-insensitive for the subcommand and the severity, and keeps the title as typed', () => {
    expect(parseIncidentCommand('DECLARE p0 Payments API DOWN')).toEqual({
      name: 'declare',
      severity: 'P0',
      title: 'Payments API DOWN',
    });
  });

  it('collapses extra whitespace around and inside the title', () => {
    expect(parseIncidentCommand('  declare   P4    typo   on   the\tstatus page  ')).toEqual({
      name: 'declare',
      severity: 'P4',
      title: 'typo on the status page',
    });
  });

  it.each(['P0', 'P1', 'P2', 'P3', 'P4'])('accepts %s', (severity) => {
    expect(parseIncidentCommand(`declare ${severity} x`)).toEqual({ name: 'declare', severity, title: 'x' });
  });

  it('accepts a title of exactly 200 characters', () => {
    const title = 'a'.repeat(200);
    expect(parseIncidentCommand(`declare P2 ${title}`)).toEqual({ name: 'declare', severity: 'P2', title });
  });

  it('refuses a title over 200 characters', () => {
    expect(refusal(`declare P2 ${'a'.repeat(201)}`)).toEqual({
      message: 'Keep a title under 200 characters.',
      usage,
    });
  });

  it('refuses a missing severity', () => {
    expect(refusal('declare')).toEqual({
      message: 'Give a severity from P0 (production down) to P4.',
      usage,
    });
  });

  it('refuses an unknown severity, quoting it as typed', () => {
    expect(refusal('declare P9 Checkout is down')).toEqual({
      message: '"P9" is not a severity: use P0, P1, P2, P3 or P4.',
      usage,
    });
    expect(refusal('declare high Checkout is down')).toEqual({
      message: '"high" is not a severity: use P0, P1, P2, P3 or P4.',
      usage,
    });
  });

  it('refuses a missing title', () => {
    expect(refusal('declare P1')).toEqual({ message: 'Say a title.', usage });
    expect(refusal('declare P1    ')).toEqual({ message: 'Say a title.', usage });
  });
});

describe('update', () => {
  const usage = INCIDENT_USAGE.update;

  it('with nothing else opens the form: no id, status or text', () => {
    expect(parseIncidentCommand('update')).toEqual({ name: 'update', incidentId: undefined });
  });

  it('reads text alone', () => {
    expect(parseIncidentCommand('update rolled back the deploy')).toEqual({
      name: 'update',
      incidentId: undefined,
      text: 'rolled back the deploy',
    });
  });

  it('reads a status and text', () => {
    expect(parseIncidentCommand('update identified bad config push')).toEqual({
      name: 'update',
      incidentId: undefined,
      status: 'identified',
      text: 'bad config push',
    });
  });

  it('reads a status alone, without text', () => {
    expect(parseIncidentCommand('update Monitoring')).toEqual({
      name: 'update',
      incidentId: undefined,
      status: 'monitoring',
    });
  });

  it('reads an incident id, a status and text, case-insensitively, with extra whitespace', () => {
    expect(parseIncidentCommand('  UPDATE   inc-42   INVESTIGATING   error   rate  up ')).toEqual({
      name: 'update',
      incidentId: 42,
      status: 'investigating',
      text: 'error rate up',
    });
  });

  it('reads an incident id alone', () => {
    expect(parseIncidentCommand('update INC-7')).toEqual({ name: 'update', incidentId: 7 });
  });

  it('reads an incident id and text without a status', () => {
    expect(parseIncidentCommand('update INC-123456789 still looking')).toEqual({
      name: 'update',
      incidentId: 123456789,
      text: 'still looking',
    });
  });

  it('takes a status word only in first place, and a bare number as text', () => {
    expect(parseIncidentCommand('update 42 monitoring')).toEqual({
      name: 'update',
      incidentId: undefined,
      text: '42 monitoring',
    });
  });

  it('takes an id of more than 9 digits as text', () => {
    expect(parseIncidentCommand('update INC-1234567890 x')).toEqual({
      name: 'update',
      incidentId: undefined,
      text: 'INC-1234567890 x',
    });
  });

  it('accepts text of exactly 3000 characters and refuses 3001', () => {
    const text = 'x'.repeat(3000);
    expect(parseIncidentCommand(`update ${text}`)).toEqual({ name: 'update', incidentId: undefined, text });
    expect(refusal(`update monitoring ${'x'.repeat(3001)}`)).toEqual({
      message: 'Keep an update under 3000 characters.',
      usage,
    });
  });
});

describe('severity', () => {
  const usage = INCIDENT_USAGE.severity;

  it('reads a severity, with or without an incident id', () => {
    expect(parseIncidentCommand('severity P2')).toEqual({
      name: 'severity',
      incidentId: undefined,
      severity: 'P2',
    });
    expect(parseIncidentCommand('  Severity   Inc-9   p0 ')).toEqual({
      name: 'severity',
      incidentId: 9,
      severity: 'P0',
    });
  });

  it('refuses a missing severity', () => {
    expect(refusal('severity')).toEqual({
      message: 'Give a severity from P0 (production down) to P4.',
      usage,
    });
    expect(refusal('severity INC-9')).toEqual({
      message: 'Give a severity from P0 (production down) to P4.',
      usage,
    });
  });

  it('refuses P9', () => {
    expect(refusal('severity INC-9 P9')).toEqual({
      message: '"P9" is not a severity: use P0, P1, P2, P3 or P4.',
      usage,
    });
  });

  it('refuses extra words after the severity', () => {
    expect(refusal('severity P1 because it is bad')).toEqual({
      message: 'Only a severity is expected.',
      usage,
    });
    expect(refusal('severity INC-3 P1 P2')).toEqual({ message: 'Only a severity is expected.', usage });
  });
});

describe('assign', () => {
  const usage = INCIDENT_USAGE.assign;
  const mentionError = { message: 'Mention exactly one person, like @alice.', usage };

  it('reads a role and an escaped mention', () => {
    expect(parseIncidentCommand('assign commander <@U123>')).toEqual({
      name: 'assign',
      incidentId: undefined,
      role: 'commander',
      userId: 'U123',
    });
  });

  it('reads a mention with a name, an incident id, and is case-insensitive', () => {
    expect(parseIncidentCommand('  ASSIGN  inc-42  Scribe   <@U0ABC123|alice.smith> ')).toEqual({
      name: 'assign',
      incidentId: 42,
      role: 'scribe',
      userId: 'U0ABC123',
    });
  });

  it('accepts comms and Enterprise Grid (W…) user ids', () => {
    expect(parseIncidentCommand('assign comms <@W0XYZ99>')).toEqual({
      name: 'assign',
      incidentId: undefined,
      role: 'comms',
      userId: 'W0XYZ99',
    });
  });

  it('refuses a missing role', () => {
    expect(refusal('assign')).toEqual({ message: 'Name a role: commander, scribe or comms.', usage });
    expect(refusal('assign INC-4')).toEqual({ message: 'Name a role: commander, scribe or comms.', usage });
  });

  it('refuses an unknown role, quoting it lowercased', () => {
    expect(refusal('assign Boss <@U123>')).toEqual({
      message: '"boss" is not a role: commander, scribe or comms.',
      usage,
    });
  });

  it('refuses a missing mention', () => {
    expect(refusal('assign commander')).toEqual(mentionError);
  });

  it('refuses a plain @name, which Slack did not escape', () => {
    expect(refusal('assign commander @bob')).toEqual(mentionError);
  });

  it('refuses a channel or group mention', () => {
    expect(refusal('assign commander <#C0123ABCD>')).toEqual(mentionError);
    expect(refusal('assign commander <!here>')).toEqual(mentionError);
  });

  it('refuses two mentions, or words after the mention', () => {
    expect(refusal('assign commander <@U123> <@U456>')).toEqual(mentionError);
    expect(refusal('assign commander <@U123> please')).toEqual(mentionError);
  });
});

describe('note', () => {
  const usage = INCIDENT_USAGE.note;

  it('keeps the line breaks of a note of several lines', () => {
    expect(parseIncidentCommand('note INC-4 first   line\n  second line\n\nthird')).toEqual({
      name: 'note',
      incidentId: 4,
      text: 'first line\nsecond line\n\nthird',
    });
  });

  it('reads text, with or without an incident id', () => {
    expect(parseIncidentCommand('note  paged   the DBA ')).toEqual({
      name: 'note',
      incidentId: undefined,
      text: 'paged the DBA',
    });
    expect(parseIncidentCommand('NOTE INC-5 paged the DBA')).toEqual({
      name: 'note',
      incidentId: 5,
      text: 'paged the DBA',
    });
  });

  it('refuses missing text', () => {
    expect(refusal('note')).toEqual({ message: 'Say what to note.', usage });
    expect(refusal('note INC-5')).toEqual({ message: 'Say what to note.', usage });
  });

  it('accepts 3000 characters and refuses 3001', () => {
    const text = 'n'.repeat(3000);
    expect(parseIncidentCommand(`note ${text}`)).toEqual({ name: 'note', incidentId: undefined, text });
    expect(refusal(`note ${'n'.repeat(3001)}`)).toEqual({
      message: 'Keep what to note under 3000 characters.',
      usage,
    });
  });
});

describe('timeline and postmortem', () => {
  it.each(['timeline', 'postmortem'] as const)('%s reads an optional incident id', (name) => {
    expect(parseIncidentCommand(name)).toEqual({ name, incidentId: undefined });
    expect(parseIncidentCommand(`  ${name.toUpperCase()}   inc-77  `)).toEqual({ name, incidentId: 77 });
  });

  it.each(['timeline', 'postmortem'] as const)('%s refuses extra words', (name) => {
    const error = { message: 'Nothing but an incident id is expected.', usage: INCIDENT_USAGE[name] };
    expect(refusal(`${name} please`)).toEqual(error);
    expect(refusal(`${name} INC-77 now`)).toEqual(error);
    expect(refusal(`${name} 77`)).toEqual(error);
  });
});

describe('resolve', () => {
  const usage = INCIDENT_USAGE.resolve;

  it('reads the resolution, with or without an incident id', () => {
    expect(parseIncidentCommand('resolve rolled back v1.2.3')).toEqual({
      name: 'resolve',
      incidentId: undefined,
      resolution: 'rolled back v1.2.3',
    });
    expect(parseIncidentCommand('Resolve  INC-8   rolled   back')).toEqual({
      name: 'resolve',
      incidentId: 8,
      resolution: 'rolled back',
    });
  });

  it('refuses a missing resolution', () => {
    expect(refusal('resolve')).toEqual({ message: 'Say how it was resolved.', usage });
    expect(refusal('resolve INC-8')).toEqual({ message: 'Say how it was resolved.', usage });
  });

  it('refuses a resolution over 3000 characters', () => {
    expect(refusal(`resolve ${'r'.repeat(3001)}`)).toEqual({
      message: 'Keep how it was resolved under 3000 characters.',
      usage,
    });
  });
});
