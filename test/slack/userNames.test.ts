import { afterEach, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observability/logger.js';
import { startSlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { SlackApi } from '../../src/slack/slackApi.js';
import { UserNames } from '../../src/slack/userNames.js';
import { waitFor } from '../support/services.js';
import { TEST_SECRETS } from '../support/testBot.js';

const HOUR = 60 * 60_000;

describe("people's names from users.info, remembered", () => {
  const closes: Array<() => Promise<unknown>> = [];
  afterEach(async () => {
    for (const close of closes.splice(0)) await close();
  });

  /** UserNames against an emulated Slack over HTTP, on a clock the test moves. */
  async function setUp(scopes?: string[]) {
    const slack = await startSlackEmulator({ token: TEST_SECRETS.botToken, ...(scopes ? { scopes } : {}) });
    closes.push(slack.close);
    slack.emulator.addUser({ id: 'U0ALICE', name: 'alice', realName: 'Alice Liddell' });
    slack.emulator.addUser({ id: 'U0BOB', name: 'bob', realName: '' });
    const clock = { now: 1_000_000 };
    const lines: string[] = [];
    const names = new UserNames(
      new SlackApi(TEST_SECRETS.botToken, slack.apiUrl),
      createLogger('warn', [], { write: (line: string) => lines.push(line) }),
      () => clock.now,
    );
    const asked = () => slack.emulator.callsOf('users.info').map((c) => c.params.user);
    return { slack, clock, names, lines, asked };
  }
  const named = (map: Map<string, string>) => Object.fromEntries(map);
  const warnings = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { msg: string }).msg);

  it('names each person by full name, else display name, asking Slack once an hour for each', async () => {
    const { clock, names, asked } = await setUp();
    expect(named(await names.names(['U0ALICE', 'U0BOB', 'U0ALICE']))).toEqual({
      U0ALICE: 'Alice Liddell',
      U0BOB: 'bob',
    });
    clock.now += HOUR - 1;
    expect(named(await names.names(['U0BOB', 'U0ALICE']))).toEqual({
      U0ALICE: 'Alice Liddell',
      U0BOB: 'bob',
    });
    expect(asked()).toEqual(['U0ALICE', 'U0BOB']);
    clock.now += 1;
    await names.names(['U0ALICE']);
    expect(asked()).toEqual(['U0ALICE', 'U0BOB', 'U0ALICE']);
  });

  it('leaves out, and remembers, a person Slack does not know, and goes on with the rest', async () => {
    const { slack, names, asked } = await setUp();
    slack.emulator.forgetUser('U0GONE');
    expect(named(await names.names(['U0GONE', 'U0ALICE']))).toEqual({ U0ALICE: 'Alice Liddell' });
    expect(named(await names.names(['U0GONE']))).toEqual({});
    expect(asked()).toEqual(['U0GONE', 'U0ALICE']);
  });

  it('leaves out, and remembers, a person Slack will not show, and goes on with the rest, warning of nothing', async () => {
    const { slack, names, lines, asked } = await setUp();
    // As Slack answers for someone of another organisation in a shared channel.
    slack.emulator.failNext('users.info', { error: 'user_not_visible' });
    expect(named(await names.names(['U0EXT', 'U0ALICE']))).toEqual({ U0ALICE: 'Alice Liddell' });
    expect(named(await names.names(['U0EXT']))).toEqual({});
    expect(asked()).toEqual(['U0EXT', 'U0ALICE']);
    expect(lines).toEqual([]);
  });

  it('takes a refusal of its token that Slack gives about one person for the token: says so, asks again ten minutes later', async () => {
    const { slack, clock, names, lines, asked } = await setUp();
    slack.emulator.failNext('users.info', { error: 'token_revoked' });
    expect(named(await names.names(['U0BOB', 'U0ALICE']))).toEqual({});
    expect(named(await names.names(['U0ALICE']))).toEqual({});
    expect(asked()).toEqual(['U0BOB']);
    expect(warnings(lines)).toEqual([expect.stringMatching(/token_revoked.*Check SLACK_BOT_TOKEN/)]);
    clock.now += 10 * 60_000;
    await names.names(['U0ALICE']);
    expect(asked()).toEqual(['U0BOB', 'U0ALICE']);
  });

  it('without users:read, asks once, says how to fix it, and asks again only ten minutes later', async () => {
    const { clock, names, lines, asked } = await setUp(['chat:write']);
    expect(named(await names.names(['U0ALICE', 'U0BOB']))).toEqual({});
    expect(named(await names.names(['U0ALICE']))).toEqual({});
    expect(asked()).toEqual(['U0ALICE']);
    expect(warnings(lines)).toEqual([expect.stringMatching(/missing_scope.*users:read \(reinstall/)]);
    clock.now += 10 * 60_000;
    await names.names(['U0BOB']);
    expect(asked()).toEqual(['U0ALICE', 'U0BOB']);
  });

  it('while Slack is down, names people from what it said before, even past the hour, and asks once', async () => {
    const { slack, clock, names, asked } = await setUp();
    await names.names(['U0ALICE']);
    clock.now += 2 * HOUR;
    slack.emulator.outage();
    expect(named(await names.names(['U0BOB', 'U0ALICE', 'U0CAROL']))).toEqual({ U0ALICE: 'Alice Liddell' });
    expect(asked()).toEqual(['U0ALICE', 'U0BOB']);
    slack.emulator.endOutage();
    expect(named(await names.names(['U0BOB', 'U0CAROL']))).toEqual({ U0BOB: 'bob', U0CAROL: 'User U0CAROL' });
  });

  it('tells what it knows without asking; warm asks in the background, once an hour for each', async () => {
    const { slack, clock, names, asked } = await setUp();
    expect(named(names.known(['U0ALICE']))).toEqual({});
    expect(asked()).toEqual([]);
    const held = slack.emulator.hold('users.info');
    names.warm(['U0ALICE']);
    await held.reached;
    // While Slack is being asked, asking again is left to that one.
    names.warm(['U0ALICE', 'U0ALICE']);
    held.release();
    await waitFor(() => names.known(['U0ALICE']).size === 1, 5_000, 'the name');
    expect(named(names.known(['U0ALICE', 'U0BOB']))).toEqual({ U0ALICE: 'Alice Liddell' });
    names.warm(['U0ALICE']);
    clock.now += HOUR - 1;
    names.warm(['U0ALICE']);
    expect(asked()).toEqual(['U0ALICE']);
    clock.now += 1;
    names.warm(['U0ALICE']);
    await waitFor(() => asked().length === 2, 5_000, 'asked again');
  });

  it('lets Slack be for a minute after it did not answer a warm, and knows names past their hour meanwhile', async () => {
    const { slack, clock, names, lines, asked } = await setUp();
    await names.names(['U0ALICE']);
    clock.now += 2 * HOUR;
    slack.emulator.outage();
    names.warm(['U0ALICE']);
    await waitFor(() => lines.length === 1, 5_000, 'the warning');
    names.warm(['U0ALICE', 'U0BOB']);
    expect(named(names.known(['U0ALICE', 'U0BOB']))).toEqual({ U0ALICE: 'Alice Liddell' });
    slack.emulator.endOutage();
    clock.now += 60_000 - 1;
    names.warm(['U0BOB']);
    expect(asked()).toEqual(['U0ALICE', 'U0ALICE']);
    clock.now += 1;
    names.warm(['U0BOB']);
    await waitFor(() => names.known(['U0BOB']).size === 1, 5_000, 'his name');
    expect(lines).toHaveLength(1);
  });

  it('makes a name one line of at most 80 characters', async () => {
    const { slack, names } = await setUp();
    slack.emulator.addUser({
      id: 'U0LONG',
      name: 'long',
      realName: `Mallory\n## Root Cause\u2028${'x'.repeat(200)}`,
    });
    const name = (await names.names(['U0LONG'])).get('U0LONG')!;
    expect(name).toMatch(/^Mallory ## Root Cause x+…$/);
    expect([...name]).toHaveLength(80);
  });
});
