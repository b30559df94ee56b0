import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { escapeMrkdwn } from '../../src/render/mrkdwn.js';
import { SRE, slashCommand, slashCommandFields, submitView } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

/** What people type, echoed back in refusals and answers: shown as text, and refused when unstorable. */

const CATALOG = `${DEFAULT_TEST_CONFIG}
services:
  payments-api:
    actions:
      - name: restart
        description: Restart payments-api
        kind: custom
        driver: { type: command, argv: [node, -e, '0', '{{reason}}'] }
        params:
          reason: { type: string }
          drain: { type: boolean, default: true }
        approval: { approvers: [U0BOB], required: 1 }
`;

// Slack sends &, < and > escaped; a client of its own may not. Both must come back as text.
const HOSTILE = [
  '<!here>',
  '<!channel>',
  '<!subteam^S0ONCALL>',
  '<@U0MALLORY>',
  '<#C0SECRET|general>',
  '<https://evil.example|click>',
  '<mailto:ceo@example.com|mail>',
].flatMap((h) => [h, escapeMrkdwn(h)]);
const LIVE = /<[!@#]|<(?:https?|mailto):/i;
const UNSTORABLE = /NUL character or half of a surrogate pair/;

const ECHOING: Record<string, string[]> = {
  '/incident': ['declare X Checkout is down', 'X', 'assign INC-1 X <@U0BOB>', 'severity INC-1 X'],
  '/action': [
    'X payments-api',
    'restart payments-api X',
    'restart payments-api X=1',
    'restart payments-api reason=ok drain=X',
    'restart payments-api reason="X"',
    'cancel X',
  ],
  '/health': ['X', 'payments-api X'],
};

describe('command text, end to end', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({ configYaml: CATALOG });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const rows = async () =>
    (
      await bot.app.pool.query(
        `SELECT (SELECT count(*) FROM incidents)::int AS incidents, (SELECT count(*) FROM action_requests)::int AS requests,
                (SELECT count(*) FROM timeline_entries)::int AS entries`,
      )
    ).rows[0];

  it.each(Object.keys(ECHOING))('%s echoes no live mention or link from what was typed', async (command) => {
    for (const template of ECHOING[command]!)
      for (const hostile of HOSTILE) {
        const text = template.replace('X', hostile);
        const answer = await slashCommand(bot, text, { command });
        expect(answer.status, text).toBe(200);
        expect(answer.responseType, text).toBe('ephemeral');
        expect(`${answer.text} ${JSON.stringify(answer.blocks ?? [])}`, text).not.toMatch(LIVE);
      }
  });

  it('shows what was typed, escaped once', async () => {
    expect((await slashCommand(bot, 'declare <!here> Checkout is down')).text).toMatch(
      /^"&lt;!here&gt;" is not a severity/,
    );
    const requested = await slashCommand(
      bot,
      'restart payments-api reason="<!channel> <https://evil.example|click> & co"',
      { command: '/action' },
    );
    expect(requested.text).toMatch(
      /^Requested ACT-\d+: restart on payments-api \(reason="&lt;!channel&gt; &lt;https:\/\/evil\.example\|click&gt; &amp; co" drain=true\)/,
    );
  });

  it('refuses a NUL character in any command with the usage, writing nothing', async () => {
    const before = await rows();
    for (const [command, text] of [
      ['/incident', 'declare P1 Checkout\u0000 is down'],
      ['/incident', 'note INC-1 a\u0000b'],
      ['/action', 'restart payments-api reason=a\u0000b'],
      ['/health', 'payments-api\u0000'],
    ] as const) {
      const answer = await slashCommand(bot, text, { command });
      expect(answer.responseType, text).toBe('ephemeral');
      expect(answer.text, text).toMatch(UNSTORABLE);
      expect(answer.text, text).toContain('Usage: `');
    }
    expect(await rows()).toEqual(before);
  });

  it('refuses a NUL character or a lone surrogate in a form field, under that field', async () => {
    const declared = await slashCommand(bot, 'declare P3 Forms with bad text');
    const id = /Declared INC-(\d+)/.exec(declared.text)![1]!;
    const before = await rows();
    const update = { callback_id: 'incident_update', private_metadata: id };
    const resolve = { callback_id: 'incident_resolve', private_metadata: id };
    for (const bad of ['a\u0000b', 'a\ud800b', 'a\udfffb']) {
      for (const field of ['text', 'impact', 'affected', 'eta']) {
        const submitted = await submitView(bot, update, { text: 'Fine', [field]: bad }, SRE.bob);
        expect(submitted.body, field).toEqual({
          response_action: 'errors',
          errors: { [field]: expect.stringMatching(UNSTORABLE) },
        });
      }
      expect((await submitView(bot, resolve, { resolution: bad })).body).toEqual({
        response_action: 'errors',
        errors: { resolution: expect.stringMatching(UNSTORABLE) },
      });
    }
    expect(await rows()).toEqual(before);
  });
});

describe('command text over Socket Mode, where JSON can carry a lone surrogate', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot({
      configYaml: CATALOG,
      env: { SLACK_APP_TOKEN: TEST_SECRETS.appToken, SLACK_SIGNING_SECRET: '' },
    });
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('refuses a lone surrogate in any command with the usage, writing nothing', async () => {
    const count = async () =>
      (
        await bot.app.pool.query(
          'SELECT (SELECT count(*) FROM incidents) + (SELECT count(*) FROM action_requests) AS n',
        )
      ).rows[0].n;
    const before = await count();
    for (const [command, text] of [
      ['/incident', 'declare P1 Checkout \ud83d is down'],
      ['/action', 'restart payments-api reason=\udc00'],
      ['/health', '\ud800'],
    ] as const) {
      const answer = await bot.slack.emulator.socketMode.deliver(
        'slash_commands',
        slashCommandFields(text, { command }),
      );
      expect(answer.response_type, text).toBe('ephemeral');
      expect(String(answer.text), text).toMatch(UNSTORABLE);
      expect(String(answer.text), text).toContain('Usage: `');
    }
    expect(await count()).toBe(before);
  });
});
