import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadFileConfig, parseFileConfig } from '../../src/config/file.js';
import { loadConfig, SANDBOX_CONFIG_PATH } from '../../src/config/index.js';

const SOURCE = 'config/test.yml';
const MINIMAL = 'slack:\n  defaultChannel: C0123ABCD\n';

async function rejection(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected a ConfigError');
}

function configError(text: string): ConfigError {
  try {
    parseFileConfig(SOURCE, text);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('expected parseFileConfig to throw a ConfigError');
}

const problemsOf = (text: string) => configError(text).problems;

async function tempFile(name: string, text: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'incident-bot-config-'));
  const path = join(dir, name);
  await writeFile(path, text);
  return path;
}

describe('defaults', () => {
  it('fills every optional key of a minimal file', () => {
    expect(parseFileConfig(SOURCE, MINIMAL)).toEqual({
      slack: {
        defaultChannel: 'C0123ABCD',
        syncIntervalMs: 1000,
        rateLimits: {
          postMessagePerChannel: { perMinute: 60, burst: 3 },
          update: { perMinute: 50, burst: 10 },
          history: { perMinute: 50, burst: 5 },
        },
      },
      alerts: {
        severityLabel: 'severity',
        severities: { critical: 'P0', warning: 'P1', info: 'P3' },
        defaultSeverity: 'P2',
        maxAlertsShown: 10,
        lateCopyWindow: 300_000,
        reopenWithin: 1_800_000,
      },
      incidents: {
        commanderReminderAfter: 300_000,
        createChannel: false,
        postmortemOnResolve: false,
        updateIntervals: { P0: 900_000, P1: 1_800_000, P2: 3_600_000, P3: null, P4: null },
      },
      services: {},
      actions: {
        degradationReminderAfter: 86_400_000,
        workerLockDuration: 30_000,
        membershipRefresh: 60_000,
      },
      playbooks: [],
      routes: [],
      silences: { maxDuration: 604_800_000 },
      escalation: { policies: {}, routes: [], severities: {} },
    });
  });

  it('keeps the default for one rate limit when only the other is given', () => {
    const config = parseFileConfig(
      SOURCE,
      `${MINIMAL}  rateLimits:\n    update: { perMinute: 20, burst: 2 }\n`,
    );
    expect(config.slack.rateLimits).toEqual({
      postMessagePerChannel: { perMinute: 60, burst: 3 },
      update: { perMinute: 20, burst: 2 },
      history: { perMinute: 50, burst: 5 },
    });
  });

  it('replaces the whole severity map when one is given, rather than merging with the default', () => {
    const config = parseFileConfig(SOURCE, `${MINIMAL}alerts:\n  severities: { page: P0, ticket: P3 }\n`);
    expect(config.alerts.severities).toEqual({ page: 'P0', ticket: 'P3' });
    expect(config.alerts.defaultSeverity).toBe('P2');
  });

  it('parses the shipped example file', async () => {
    const config = await loadFileConfig(
      fileURLToPath(new URL('../../config/incident-bot.example.yml', import.meta.url)),
    );
    expect(config.slack.defaultChannel).toBe('C0123ABCD');
    expect(config.routes.map((r) => r.channel)).toEqual(['C0PAYMENTS', 'C0METASHEET']);
    expect(config.routes[0]!.matchers).toMatchObject([
      { label: 'team', op: '=', value: 'payments' },
      { label: 'severity', op: '=~', value: 'critical|warning' },
    ]);
  });
});

describe('YAML syntax errors', () => {
  it('report one line per error with the YAML message', () => {
    const error = configError('slack:\n  defaultChannel: C0123ABCD\n syncIntervalMs: 5\n');
    expect(error.source).toBe(SOURCE);
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatch(/^line .*: All mapping items must start at the same column$/);
  });

  it('refuse duplicate keys, which YAML would otherwise resolve silently', () => {
    const problems = problemsOf(`${MINIMAL}slack:\n  defaultChannel: C0OTHER00\n`);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/: Map keys must be unique$/);
  });

  it('refuse keys JavaScript would make one, which YAML takes for two: the later would replace the earlier', () => {
    const action = `      - name: restart\n        description: restart\n        kind: custom\n        driver: { type: command, argv: [/bin/true] }\n        approval: { approvers: [U0ALICE01], required: 1 }\n`;
    for (const [a, b] of [
      ['1', '"1"'],
      ['true', '"true"'],
      ['~', "''"],
    ]) {
      const problems = problemsOf(
        `${MINIMAL}services:\n  ${a}:\n    actions:\n${action}  ${b}:\n    checks: []\n`,
      );
      expect(problems).toEqual([expect.stringMatching(/: Map keys must be unique$/)]);
    }
  });

  it('refuse an alias to no anchor, and aliases past what YAML expands, as a problem of the file', () => {
    expect(problemsOf(`${MINIMAL}routes: *nope\n`)).toEqual([expect.stringMatching(/Unresolved alias/)]);
    const bomb = `${MINIMAL}x0: &a [1,1,1,1,1,1,1,1,1,1]\nx1: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nx2: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nx3: [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\n`;
    expect(problemsOf(bomb)).toEqual([expect.stringMatching(/Excessive alias count/)]);
  });

  // Regression test for a bug found in review.
  it('report the line number of the error', () => {
    expect(problemsOf('slack:\n  defaultChannel: C0123ABCD\n syncIntervalMs: 5\n')[0]).toMatch(
      /^line 3: All mapping items must start at the same column/,
    );
  });
});

describe('schema problems', () => {
  it('report a bad channel with its path, exactly as the README shows', () => {
    const text = `${MINIMAL}routes:
  - matchers: ['team=a']
    channel: C0AAAAAAA
  - matchers: ['team=b']
    channel: C0BBBBBBB
  - matchers: ['team=c']
    channel: '#payments'
`;
    const error = configError(text);
    expect(error.problems).toEqual(['routes[2].channel: expected a Slack channel id like C0123ABCD']);
    expect(error.message).toBe(
      'config/test.yml:\n  routes[2].channel: expected a Slack channel id like C0123ABCD',
    );
  });

  it.each(['general', 'c0123abcd', 'C01', 'D0123ABCD', ''])('refuse %j as a channel id', (channel) => {
    expect(problemsOf(`slack:\n  defaultChannel: '${channel}'\n`)).toEqual([
      'slack.defaultChannel: expected a Slack channel id like C0123ABCD',
    ]);
  });

  it('accept public (C…) and private (G…) channel ids', () => {
    expect(parseFileConfig(SOURCE, 'slack:\n  defaultChannel: G0123ABCD\n').slack.defaultChannel).toBe(
      'G0123ABCD',
    );
  });

  it('say "required" for a missing section or key', () => {
    expect(problemsOf('')).toEqual(['slack: required']);
    expect(problemsOf('slack: {}\n')).toEqual(['slack.defaultChannel: required']);
    expect(problemsOf(`${MINIMAL}routes:\n  - matchers: ['a=b']\n`)).toEqual(['routes[0].channel: required']);
  });

  it('refuse a document that is not a mapping', () => {
    expect(problemsOf('- slack\n')).toEqual(['(root): Invalid input: expected object, received array']);
  });

  it('refuse unknown keys at every level, so a typo is not silently ignored', () => {
    const text = `slack:
  defaultChanel: C0123ABCD
  rateLimits:
    update: { perMinute: 10, burst: 1, brust: 2 }
    postMessage: { perMinute: 10, burst: 1 }
alert:
  maxAlertsShown: 5
alerts:
  severityLable: sev
routes:
  - matchers: ['a=b']
    chanel: C0AAAAAAA
`;
    expect(problemsOf(text)).toEqual([
      'slack.defaultChannel: required',
      'slack.rateLimits.update: Unrecognized key: "brust"',
      'slack.rateLimits: Unrecognized key: "postMessage"',
      'slack: Unrecognized key: "defaultChanel"',
      'alerts: Unrecognized key: "severityLable"',
      'routes[0].channel: required',
      'routes[0]: Unrecognized key: "chanel"',
      '(root): Unrecognized key: "alert"',
    ]);
  });

  it('report bad matcher text and bad regexes with the route and matcher index', () => {
    const text = `${MINIMAL}routes:
  - matchers: ['team=payments', 'team payments']
    channel: C0AAAAAAA
  - matchers: ['service=~(api']
    channel: C0BBBBBBB
  - matchers: []
    channel: C0CCCCCCC
`;
    expect(problemsOf(text)).toEqual([
      'routes[0].matchers[1]: expected label=value, label!=value, label=~regex or label!~regex, got "team payments"',
      'routes[1].matchers[0]: invalid regex in "service=~(api": Invalid regular expression: /^(?:(api)$/: Unterminated group',
      'routes[2].matchers: expected at least one matcher',
    ]);
  });

  it('parse matchers into anchored regexes', () => {
    const config = parseFileConfig(
      SOURCE,
      `${MINIMAL}routes:\n  - matchers: ['severity=~critical|warning']\n    channel: C0AAAAAAA\n`,
    );
    expect(config.routes[0]!.matchers[0]!.regex).toEqual(/^(?:critical|warning)$/);
  });

  it('check ranges and the severity levels', () => {
    const text = `slack:
  defaultChannel: C0123ABCD
  syncIntervalMs: 60001
  rateLimits:
    update: { perMinute: 0 }
alerts:
  severities: { critical: P9 }
  defaultSeverity: high
  maxAlertsShown: 21
  severityLabel: ''
`;
    expect(problemsOf(text)).toEqual([
      'slack.syncIntervalMs: Too big: expected number to be <=60000',
      'slack.rateLimits.update.perMinute: Too small: expected number to be >0',
      'slack.rateLimits.update.burst: required',
      'alerts.severityLabel: Too small: expected string to have >=1 characters',
      'alerts.severities.critical: expected one of P0, P1, P2, P3, P4',
      'alerts.defaultSeverity: expected one of P0, P1, P2, P3, P4',
      'alerts.maxAlertsShown: Too big: expected number to be <=20',
    ]);
  });

  it('refuses a reopen window of no time, naming the key', () => {
    expect(problemsOf(`${MINIMAL}alerts:\n  reopenWithin: 0m\n`)).toEqual([
      expect.stringMatching(/^alerts\.reopenWithin: expected a duration like 30s, 15m/),
    ]);
    expect(
      parseFileConfig(SOURCE, `${MINIMAL}alerts:\n  reopenWithin: none\n`).alerts.reopenWithin,
    ).toBeNull();
  });
});

describe("an action's requesters", () => {
  const withRequesters = (requesters: string) => `${MINIMAL}services:
  payments-api:
    actions:
      - { name: flush-cache, description: Flush the cache, kind: custom, driver: { type: command, argv: ['true'] }, approval: { approvers: ['@sre-oncall'] } }
      - name: rollback
        description: Roll the deploy back
        kind: rollback
        driver: { type: command, argv: ['true'] }
        approval: { approvers: ['@sre-oncall'] }
        requesters: ${requesters}
`;

  it('reads people, user-group ids and handles, and leaves an action without them open to anyone', () => {
    const [open, guarded] = parseFileConfig(SOURCE, withRequesters("[U0ALICE, W0BOB, S0LEADS, '@sre-leads']"))
      .services['payments-api']!.actions;
    expect(open!.requesters).toBeUndefined();
    expect(guarded!.requesters).toEqual(['U0ALICE', 'W0BOB', 'S0LEADS', '@sre-leads']);
  });

  it('names the path of a requester that is not a Slack user or user group, and refuses an empty list', () => {
    expect(problemsOf(withRequesters("[U0ALICE, alice, '<!channel>']"))).toEqual([
      'services.payments-api.actions[1].requesters[1]: expected a Slack user id (U…), a user-group id (S…) or a user-group handle (@sre-oncall)',
      'services.payments-api.actions[1].requesters[2]: expected a Slack user id (U…), a user-group id (S…) or a user-group handle (@sre-oncall)',
    ]);
    expect(problemsOf(withRequesters('[]'))).toEqual([
      'services.payments-api.actions[1].requesters: expected at least one requester (leave requesters out to let anyone request)',
    ]);
  });
});

describe('names in the config are data, never keys into Object.prototype', () => {
  const config = parseFileConfig(SOURCE, `${MINIMAL}services:\n  payments-api: {}\n`);

  it.each(['constructor', '__proto__', 'toString', 'hasOwnProperty'])('knows no service named %s', (name) => {
    expect(config.services[name]).toBeUndefined();
    expect(Object.keys(config.services)).toEqual(['payments-api']);
    expect(config.alerts.severities[name]).toBeUndefined();
  });

  it('takes a service named constructor like any other', () => {
    const named = parseFileConfig(SOURCE, `${MINIMAL}services:\n  constructor: {}\n`);
    expect(named.services.constructor).toEqual({ checks: [], actions: [] });
  });

  it('checks a __proto__ key like any other, rather than dropping it unread', () => {
    expect(problemsOf(`${MINIMAL}services:\n  __proto__: {}\n`)).toEqual([
      'services.__proto__: expected a service name like payments-api',
    ]);
  });
});

describe('the incidents section', () => {
  const incidents = (yaml: string) => `${MINIMAL}incidents:\n${yaml}`;
  const DURATION_ERROR = 'expected a duration like 30s, 15m, 2h or 7d, or none';

  it('reads durations in seconds, minutes and hours, and none', () => {
    const config = parseFileConfig(
      SOURCE,
      incidents(
        '  updateIntervals: { P0: 30s, P1: 15m, P2: 2h, P3: none, P4: 90m }\n  commanderReminderAfter: 10m\n',
      ),
    );
    expect(config.incidents.updateIntervals).toEqual({
      P0: 30_000,
      P1: 900_000,
      P2: 7_200_000,
      P3: null,
      P4: 5_400_000,
    });
    expect(config.incidents.commanderReminderAfter).toBe(600_000);
  });

  it('turns the commander reminder off with none', () => {
    expect(parseFileConfig(SOURCE, incidents('  commanderReminderAfter: none\n')).incidents).toEqual({
      createChannel: false,
      postmortemOnResolve: false,
      commanderReminderAfter: null,
      updateIntervals: { P0: 900_000, P1: 1_800_000, P2: 3_600_000, P3: null, P4: null },
    });
  });

  it('keeps the other defaults when only some update intervals are given', () => {
    const config = parseFileConfig(SOURCE, incidents('  updateIntervals:\n    P1: 45m\n    P3: 4h\n'));
    expect(config.incidents.updateIntervals).toEqual({
      P0: 900_000,
      P1: 2_700_000,
      P2: 3_600_000,
      P3: 14_400_000,
      P4: null,
    });
  });

  it('turns a default interval off with none', () => {
    const config = parseFileConfig(SOURCE, incidents('  updateIntervals: { P0: none }\n'));
    expect(config.incidents.updateIntervals).toEqual({
      P0: null,
      P1: 1_800_000,
      P2: 3_600_000,
      P3: null,
      P4: null,
    });
  });

  it('keeps every default for an empty updateIntervals', () => {
    const config = parseFileConfig(SOURCE, incidents('  updateIntervals: {}\n'));
    expect(config.incidents.updateIntervals).toEqual({
      P0: 900_000,
      P1: 1_800_000,
      P2: 3_600_000,
      P3: null,
      P4: null,
    });
  });

  it('reads createChannel, announcementChannel and postmortemOnResolve', () => {
    const config = parseFileConfig(
      SOURCE,
      incidents('  createChannel: true\n  announcementChannel: C0INCIDENT\n  postmortemOnResolve: true\n'),
    );
    expect(config.incidents).toEqual({
      createChannel: true,
      announcementChannel: 'C0INCIDENT',
      postmortemOnResolve: true,
      commanderReminderAfter: 300_000,
      updateIntervals: { P0: 900_000, P1: 1_800_000, P2: 3_600_000, P3: null, P4: null },
    });
  });
  it.each(["'15 minutes'", '-1m', '1w', 'None', "''"])(
    'refuses the update interval %s with a line naming the key and the format',
    (value) => {
      expect(problemsOf(incidents(`  updateIntervals:\n    P1: ${value}\n`))).toEqual([
        `incidents.updateIntervals.P1: ${DURATION_ERROR}`,
      ]);
    },
  );
  it('refuses a bad commanderReminderAfter with a line naming the key and the format', () => {
    expect(problemsOf(incidents('  commanderReminderAfter: 5 min\n'))).toEqual([
      `incidents.commanderReminderAfter: ${DURATION_ERROR}`,
    ]);
  });

  it.each(["'15 minutes'", '-1m', '1w', '15', 'None', "''", '1.5h', '15M'])(
    'refuses the update interval %s on a line naming the key',
    (value) => {
      const problems = problemsOf(incidents(`  updateIntervals:\n    P1: ${value}\n`));
      expect(problems).toHaveLength(1);
      expect(problems[0]).toMatch(/^incidents\.updateIntervals\.P1: /);
    },
  );

  it('refuses a severity key that does not exist in updateIntervals', () => {
    expect(problemsOf(incidents('  updateIntervals: { P1: 10m, P5: 1h }\n'))).toEqual([
      'incidents.updateIntervals: Unrecognized key: "P5"',
    ]);
    expect(problemsOf(incidents('  updateIntervals: { critical: 10m }\n'))).toEqual([
      'incidents.updateIntervals: Unrecognized key: "critical"',
    ]);
  });

  it.each(['#incidents', 'incidents', 'c0incident', 'U0123ABCD', 'C01'])(
    'refuses %j as the announcement channel',
    (channel) => {
      expect(problemsOf(incidents(`  announcementChannel: '${channel}'\n`))).toEqual([
        'incidents.announcementChannel: expected a Slack channel id like C0123ABCD',
      ]);
    },
  );

  it('refuses unknown keys and non-boolean switches', () => {
    expect(problemsOf(incidents('  createChannel: yes please\n  reminders: 5m\n'))).toEqual([
      'incidents.createChannel: Invalid input: expected boolean, received string',
      'incidents: Unrecognized key: "reminders"',
    ]);
  });
});

describe('the heartbeat section', () => {
  const heartbeat = (yaml: string) => `${MINIMAL}heartbeat:${yaml}\n`;

  it('is off without the section', () => {
    expect(parseFileConfig(SOURCE, MINIMAL).heartbeat).toBeUndefined();
  });

  it('reads the alert name and how often it must arrive, with the Watchdog every 10 minutes by default', () => {
    expect(
      parseFileConfig(SOURCE, heartbeat(' { alertname: DeadMansSwitch, expectEvery: 15m }')).heartbeat,
    ).toEqual({ alertname: 'DeadMansSwitch', expectEvery: 900_000 });
    expect(parseFileConfig(SOURCE, heartbeat(' {}')).heartbeat).toEqual({
      alertname: 'Watchdog',
      expectEvery: 600_000,
    });
  });

  it('refuses what it cannot watch, each on a line naming the key', () => {
    for (const every of ['0s', 'none', "'10'", '1.5h'])
      expect(problemsOf(heartbeat(` { expectEvery: ${every} }`))).toEqual([
        expect.stringMatching(/^heartbeat\.expectEvery: expected a duration like 30s, 15m/),
      ]);
    expect(problemsOf(heartbeat(` { alertname: '', every: 5m }`))).toEqual([
      'heartbeat.alertname: Too small: expected string to have >=1 characters',
      'heartbeat: Unrecognized key: "every"',
    ]);
    expect(problemsOf(heartbeat(` { alertname: '${'x'.repeat(201)}' }`))).toEqual([
      'heartbeat.alertname: Too big: expected string to have <=200 characters',
    ]);
    // An empty section is YAML's null, not "the defaults": said rather than guessed.
    expect(problemsOf(heartbeat(''))).toEqual(['heartbeat: Invalid input: expected object, received null']);
  });
});

describe('loadFileConfig', () => {
  it('reads and parses a file', async () => {
    const path = await tempFile('ok.yml', MINIMAL);
    expect((await loadFileConfig(path)).slack.defaultChannel).toBe('C0123ABCD');
  });

  it('names the file and the error code when the file cannot be read', async () => {
    const error = await rejection(loadFileConfig('/nonexistent/incident-bot.yml'));
    expect(error.source).toBe('/nonexistent/incident-bot.yml');
    expect(error.problems).toEqual(['cannot read the config file: ENOENT']);
  });

  it('names the file in schema problems', async () => {
    const path = await tempFile('bad.yml', 'slack:\n  defaultChannel: nope\n');
    const error = await rejection(loadFileConfig(path));
    expect(error.message).toBe(
      `${path}:\n  slack.defaultChannel: expected a Slack channel id like C0123ABCD`,
    );
  });
});

describe('loadConfig', () => {
  const ENV = {
    SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdef',
    SLACK_SIGNING_SECRET: '0123456789abcdef',
    DATABASE_URL: 'postgres://bot@db:5432/incident_bot',
    ALERTMANAGER_TOKEN: 'am-token-0123456789',
  };

  it('returns env and file together when both are valid, reading INCIDENT_BOT_CONFIG', async () => {
    const path = await tempFile('ok.yml', MINIMAL);
    const config = await loadConfig({ ...ENV, INCIDENT_BOT_CONFIG: path });
    expect(config.env.INCIDENT_BOT_CONFIG).toBe(path);
    expect(config.file.slack.defaultChannel).toBe('C0123ABCD');
  });

  it('reports env and file problems in one error, each line prefixed with its source', async () => {
    const path = await tempFile('bad.yml', 'slack:\n  defaultChannel: general\n');
    const error = await rejection(
      loadConfig({ ...ENV, SLACK_SIGNING_SECRET: undefined, PORT: '70000', INCIDENT_BOT_CONFIG: path }),
    );
    expect(error.source).toBe(`environment and ${path}`);
    expect(error.problems).toEqual([
      'environment: SLACK_SIGNING_SECRET: required',
      'environment: PORT: expected a port number from 0 to 65535',
      `${path}: slack.defaultChannel: expected a Slack channel id like C0123ABCD`,
    ]);
  });

  it('reports a missing config file alongside env problems', async () => {
    const error = await rejection(
      loadConfig({ SLACK_BOT_TOKEN: ENV.SLACK_BOT_TOKEN, INCIDENT_BOT_CONFIG: '/nonexistent/bot.yml' }),
    );
    expect(error.problems).toEqual([
      'environment: SLACK_SIGNING_SECRET: required',
      'environment: DATABASE_URL: required',
      'environment: ALERTMANAGER_TOKEN: required',
      '/nonexistent/bot.yml: cannot read the config file: ENOENT',
    ]);
  });

  it('leaves lines unprefixed when only one source has problems', async () => {
    const path = await tempFile('bad.yml', 'slack:\n  defaultChannel: general\n');
    const error = await rejection(loadConfig({ ...ENV, INCIDENT_BOT_CONFIG: path }));
    expect(error.message).toBe(
      `${path}:\n  slack.defaultChannel: expected a Slack channel id like C0123ABCD`,
    );
  });

  // Regression test for a bug found in review.
  it('treats an empty INCIDENT_BOT_CONFIG as unset even when the env is invalid', async () => {
    const error = await rejection(loadConfig({ SLACK_BOT_TOKEN: 'nope', INCIDENT_BOT_CONFIG: '' }));
    expect(error.source).toBe('environment and config/incident-bot.yml');
  });
});

describe('loadConfig in sandbox mode: the demo config as the last resort', () => {
  /** Runs `load` in an empty directory of its own, with config/incident-bot.yml there if given. */
  async function inDirectory<T>(ownConfig: string | undefined, load: () => Promise<T>): Promise<T> {
    const dir = await mkdtemp(join(tmpdir(), 'cwd-'));
    if (ownConfig !== undefined) {
      await mkdir(join(dir, 'config'));
      await writeFile(join(dir, 'config', 'incident-bot.yml'), ownConfig);
    }
    const before = process.cwd();
    process.chdir(dir);
    try {
      return await load();
    } finally {
      process.chdir(before);
    }
  }

  it('reads config/sandbox.yml when INCIDENT_BOT_CONFIG is unset and config/incident-bot.yml is missing', async () => {
    // Set but empty counts as unset, in the env and in the choice of file alike.
    const config = await inDirectory(undefined, () =>
      loadConfig({ SLACK_BOT_TOKEN: '', INCIDENT_BOT_CONFIG: '' }),
    );
    expect(config.env.sandbox).toBe(true);
    expect(config.env.INCIDENT_BOT_CONFIG).toBe(SANDBOX_CONFIG_PATH);
    expect(config.file.slack.defaultChannel).toBe('C0INCIDENTS');
  });

  // A config of one's own means a deployment: without its token it stops, rather than run the sandbox
  // against the deployment's database.
  const DEPLOYMENT = {
    SLACK_BOT_TOKEN: 'xoxb-1-2-3',
    SLACK_SIGNING_SECRET: '0123456789abcdef',
    DATABASE_URL: 'postgres://bot@db.internal:5432/incident_bot',
    ALERTMANAGER_TOKEN: 'am-token-0123456789',
  };

  it('leaves the sandbox when config/incident-bot.yml exists, and reads it', async () => {
    const refused = await rejection(inDirectory(MINIMAL, () => loadConfig({})));
    expect(refused.problems).toContain('SLACK_BOT_TOKEN: required');
    const config = await inDirectory(MINIMAL, () => loadConfig(DEPLOYMENT));
    expect(config.env.sandbox).toBe(false);
    expect(config.env.INCIDENT_BOT_CONFIG).toBe('config/incident-bot.yml');
    expect(config.file.slack.defaultChannel).toBe('C0123ABCD');
  });

  it('leaves the sandbox for INCIDENT_BOT_CONFIG, and reports it missing instead of falling back', async () => {
    const path = await tempFile('own.yml', MINIMAL);
    expect((await loadConfig({ ...DEPLOYMENT, INCIDENT_BOT_CONFIG: path })).env.INCIDENT_BOT_CONFIG).toBe(
      path,
    );
    const refused = await rejection(loadConfig({ INCIDENT_BOT_CONFIG: path }));
    expect(refused.problems).toContain('SLACK_BOT_TOKEN: required');
    const error = await rejection(
      inDirectory(undefined, () =>
        loadConfig({ ...DEPLOYMENT, INCIDENT_BOT_CONFIG: '/nonexistent/bot.yml' }),
      ),
    );
    expect(error.problems).toEqual(['cannot read the config file: ENOENT']);
  });

  it('never falls back with a Slack token: a real workspace needs its own config', async () => {
    const error = await rejection(
      inDirectory(undefined, () => loadConfig({ SLACK_BOT_TOKEN: 'xoxb-1-2-3' })),
    );
    expect(error.problems).toContain('config/incident-bot.yml: cannot read the config file: ENOENT');
  });
});

describe('the alertmanager section', () => {
  it('is optional, and gives each base URL its trailing slash, a 5 s timeout and 5 min for alerts to come back', () => {
    expect(parseFileConfig(SOURCE, MINIMAL).alertmanager).toBeUndefined();
    const file = parseFileConfig(
      SOURCE,
      `${MINIMAL}alertmanager:\n  urls: [http://am-0:9093, 'https://am.internal/alertmanager']\n`,
    );
    expect(file.alertmanager).toEqual({
      urls: ['http://am-0:9093/', 'https://am.internal/alertmanager/'],
      timeout: 5_000,
      alertsResentWithin: 300_000,
    });
  });

  it.each([
    ['urls: []', 'alertmanager.urls: expected at least one Alertmanager URL'],
    [
      "urls: ['http://bot:pw@am:9093']",
      'alertmanager.urls[0]: expected a base URL like http://alertmanager:9093, without credentials',
    ],
    [
      "urls: ['ftp://am']",
      'alertmanager.urls[0]: expected a base URL like http://alertmanager:9093, without credentials',
    ],
  ])('refuses %s', (yaml, line) => {
    expect(problemsOf(`${MINIMAL}alertmanager:\n  ${yaml}\n`).join('\n')).toContain(line);
  });
});

describe('the silences section', () => {
  it('caps silences at 7 days and lets anyone silence by default', () => {
    expect(parseFileConfig(SOURCE, MINIMAL).silences).toEqual({ maxDuration: 604_800_000 });
    const file = parseFileConfig(
      SOURCE,
      `${MINIMAL}silences:\n  maxDuration: 1d\n  silencers: [U0ALICE, S0SRE, '@sre-oncall']\n`,
    );
    expect(file.silences).toEqual({
      maxDuration: 86_400_000,
      silencers: ['U0ALICE', 'S0SRE', '@sre-oncall'],
    });
  });

  it.each([
    ['maxDuration: 0d', 'silences.maxDuration: expected a duration like 30s, 15m, 2h or 7d'],
    ['silencers: []', 'silences.silencers: expected at least one silencer'],
    ['silencers: [alice]', 'silences.silencers[0]: expected a Slack user id (U…)'],
    ['forever: true', 'silences: Unrecognized key: "forever"'],
  ])('refuses %s', (yaml, line) => {
    expect(problemsOf(`${MINIMAL}silences:\n  ${yaml}\n`).join('\n')).toContain(line);
  });
});

describe('durations', () => {
  it('takes days, up to a year', () => {
    const file = parseFileConfig(SOURCE, `${MINIMAL}alerts:\n  reopenWithin: 365d\n  lateCopyWindow: 2d\n`);
    expect(file.alerts.reopenWithin).toBe(365 * 86_400_000);
    expect(file.alerts.lateCopyWindow).toBe(2 * 86_400_000);
  });

  // Beyond a year, `now() - duration` soon leaves PostgreSQL's timestamps: every delivery compared with
  // it would fail (and a 4xx would make Alertmanager drop it).
  it.each([
    ['alerts:\n  lateCopyWindow: 9999999d', 'alerts.lateCopyWindow: expected at most 365d'],
    ['alerts:\n  reopenWithin: 366d', 'alerts.reopenWithin: expected at most 365d'],
    ['silences:\n  maxDuration: 9999999h', 'silences.maxDuration: expected at most 365d'],
  ])('refuses %j', (yaml, line) => {
    expect(problemsOf(`${MINIMAL}${yaml}\n`)).toContain(line);
  });

  // A Node timer waits at most about 24.8 days: a longer timeout fired at once (every run timed out),
  // and a longer refresh ran every millisecond.
  const TIMER = 'expected at most 24d (the longest a timer waits)';
  it.each([
    ['actions:\n  membershipRefresh: 25d', `actions.membershipRefresh: ${TIMER}`],
    ['actions:\n  workerLockDuration: 30d', `actions.workerLockDuration: ${TIMER}`],
    ["alertmanager:\n  urls: ['http://am:9093']\n  timeout: 30d", `alertmanager.timeout: ${TIMER}`],
    [
      'services:\n  api:\n    actions:\n      - { name: restart, description: restart, kind: custom, driver: { type: command, argv: [/bin/true] }, approval: { approvers: [U0ALICE01], required: 1 }, timeout: 30d }',
      `services.api.actions[0].timeout: ${TIMER}`,
    ],
    [
      "services:\n  db:\n    actions:\n      - { name: purge, description: purge, kind: custom, driver: { type: sql, connectionEnv: PAYMENTS_DB_URL, statements: ['DELETE FROM t'], lockTimeout: 25d }, approval: { approvers: [U0ALICE01], required: 1 } }",
      `services.db.actions[0].driver.lockTimeout: ${TIMER}`,
    ],
  ])('refuses a timer past 24 days: %j', (yaml, line) => {
    expect(problemsOf(`${MINIMAL}${yaml}\n`)).toContain(line);
  });
});
