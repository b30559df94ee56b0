import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SRE } from '../support/slackRequests.js';
import type { TestBot } from '../support/testBot.js';
import {
  ACTION_NAMES,
  EVIL,
  escapeSlack,
  expectAlive,
  fuzz,
  Hostile,
  hostileText,
  hostileWord,
  LIVE_MARKUP,
  PROTO_NAMES,
  replyText,
  SERVICE_NAMES,
  SERVICES_CONFIG,
  slashProbe,
  unescapeSlack,
  withNul,
} from './support.js';

const COMMAND = '/action';
const firstWord = (text: string) => (unescapeSlack(text).match(/\S+/)?.[0] ?? '').toLowerCase();

describe('hostile input: /action', () => {
  let bot: TestBot;
  let hostile: Hostile;
  beforeAll(async () => {
    hostile = await Hostile.start('/action', { configYaml: SERVICES_CONFIG });
    bot = hostile.bot;
  });
  afterAll(() => hostile?.stop());

  const refused = (text: string, label?: string) => hostile.refusedCommand(COMMAND)(text, label);

  it('refuses unknown actions and services, and names of object keys as either, with usage', async () => {
    for (const name of PROTO_NAMES) {
      await refused(`restart ${name}`);
      await refused(`${name} payments-api`);
    }
    for (const text of [
      'frobnicate payments-api',
      'scale nowhere-api replicas=1',
      'scale',
      'scale PAYMENTS-API replicas=1',
      'scale "payments-api" replicas=1',
      '--force restart payments-api',
      '-n=1 restart payments-api',
    ])
      await refused(text);
    for (const markup of LIVE_MARKUP) {
      await refused(`${markup} payments-api`);
      await refused(`restart ${markup}`);
      await refused(`restart ${escapeSlack(markup)}`);
    }
    await refused(`restart ${'x'.repeat(100_000)}`, 'a service name of 100 KB');
    await refused('x'.repeat(100_000), '100 KB of text');
  });

  it('refuses bad params, params named like object keys and options, with usage', async () => {
    const scale = (params: string) => `scale payments-api ${params}`;
    for (const name of PROTO_NAMES) {
      const answer = await refused(scale(`replicas=1 ${name}=1`));
      // An object key is a parameter like any other: unknown, not "given twice" nor a crash.
      expect(replyText(answer)).not.toMatch(/given twice/);
      expect(replyText(answer)).toContain(name);
    }
    for (const params of [
      '--force',
      'replicas=1 --force',
      '-n=1',
      'replicas',
      '=1',
      'replicas=',
      'replicas=1e3',
      'replicas=0x10',
      'replicas=1.5',
      'replicas=99999999999999999999',
      'replicas=0',
      'replicas=21',
      'replicas=1 replicas=2',
      'replicas="1',
      'replicas=1 reason=<!channel>',
      `replicas=<@${EVIL.user}>`,
      ...LIVE_MARKUP.map((markup) => `replicas=${markup}`),
      ...LIVE_MARKUP.map((markup) => `replicas=${escapeSlack(markup)}`),
      ...LIVE_MARKUP.map((markup) => `replicas=1 ${markup}`),
    ])
      await refused(scale(params));
    await refused(`announce payments-api message=${'m'.repeat(1001)}`, 'a param over its maxLength');
    await refused(`announce payments-api message=${'m'.repeat(100_000)}`, 'a param of 100 KB');
  });

  it('refuses a NUL in a param with usage: it never reaches PostgreSQL', async () => {
    for (const value of ['a\u0000b', '\u0000', '"a\u0000b"', `${'m'.repeat(500)}\u0000`])
      await refused(`announce payments-api message=${value}`, `message=${JSON.stringify(value)}`);
    await refused('scale payments-api replicas=1\u0000', 'replicas=1\\u0000');
  });

  it('refuses cancel and list with anything odd', async () => {
    for (const text of [
      'cancel',
      'cancel ACT-0',
      'cancel ACT-987654321',
      'cancel ACT-1 ACT-2',
      'cancel <!here>',
      'cancel __proto__',
      'cancel -1',
      'cancel 1e3',
      'list <!here>',
      'list --all',
    ])
      await refused(text);
  });

  it('refuses generated text with usage, writing nothing and echoing nothing live', async () => {
    const reserved = new Set<string>(['help', 'list', 'cancel', ...ACTION_NAMES]);
    // An unknown param name makes any request for scale a refusal, whatever else is typed.
    const unknownParam = fc.constantFrom(
      '--force',
      '-n=1',
      'reason=x',
      ...PROTO_NAMES.map((name) => `${name}=1`),
    );
    const generators = {
      'an unknown action': fc
        .tuple(
          hostileWord.filter((w) => firstWord(w) !== '' && !reserved.has(firstWord(w))),
          hostileText(4),
        )
        .map(([action, rest]) => `${action} ${rest}`),
      'an unknown service': fc
        .tuple(
          fc.constantFrom(...ACTION_NAMES),
          hostileWord.filter((w) => !(SERVICE_NAMES as readonly string[]).includes(firstWord(w))),
          hostileText(3),
        )
        .map(([action, service, rest]) => `${action} ${service} ${rest}`),
      'an unknown param': fc
        .tuple(hostileText(3), unknownParam, hostileText(3))
        .map(([before, param, after]) => `scale payments-api ${before} ${param} ${after}`),
      'a NUL in a param': withNul.map(
        (message) => `announce payments-api message=${message.replace(/\s/g, '_')}`,
      ),
      'cancel of nothing': hostileText(2).map((rest) => `cancel ${rest}`),
    };
    for (const [what, text] of Object.entries(generators))
      await fc.assert(
        fc.asyncProperty(text, async (t) => {
          const answer = await slashProbe(hostile, COMMAND, t, {
            generated: true,
            label: `${what}: ${JSON.stringify(t).slice(0, 200)}`,
          });
          expect(replyText(answer)).toMatch(/Usage:|Only <@|no action request|There is no/);
        }),
        fuzz(40),
      );
  });

  it('wrote nothing, posted nothing, and still answers /healthz', async () => {
    await hostile.expectNothingWrittenSinceBegin();
    await expectAlive(bot);
  });

  // Form encoding cannot carry a lone surrogate: the bytes Slack would send for one decode to U+FFFD, ordinary
  // text. So this is a request that may be taken, as long as what it stores is well-formed.
  it('takes the bytes of a lone surrogate in a param as U+FFFD, or refuses them, without a 5xx', async () => {
    const answer = await slashProbe(hostile, COMMAND, 'announce payments-api message=a\ufffdb', {
      rawText: 'announce%20payments-api%20message%3Da%ED%A0%80b',
      label: 'message=a%ED%A0%80b',
      outcome: 'by-status',
    });
    expect(replyText(answer)).toMatch(/Requested ACT-\d+|Usage:/);
    const { rows } = await bot.app.pool.query<{ params: string }>('SELECT params::text FROM action_requests');
    for (const { params } of rows) expect(params.isWellFormed(), params).toBe(true);
  });

  it('echoes nothing live in the answer to a request it takes, nor in its approval message', async () => {
    const answer = await slashProbe(
      hostile,
      COMMAND,
      `announce payments-api message="${LIVE_MARKUP.join(' ')}"`,
      {
        outcome: 'accepted',
        user: SRE.alice,
      },
    );
    expect(replyText(answer)).toMatch(/Requested ACT-\d+/);
    expect(answer.posted.map((c) => c.method)).toContain('chat.postMessage');
  });

  it('takes a replayed /action (same trigger_id) once: the replay writes and posts nothing', async () => {
    const options = { user: SRE.alice, trigger: `replay-${Date.now()}`, channel: 'C0REPLAY' };
    const first = await slashProbe(hostile, COMMAND, 'restart payments-api', {
      ...options,
      outcome: 'accepted',
    });
    expect(replyText(first)).toMatch(/Requested ACT-\d+/);
    expect(first.posted.map((c) => c.method)).toContain('chat.postMessage');
    const replay = await slashProbe(hostile, COMMAND, 'restart payments-api', {
      ...options,
      label: 'the same request again',
    });
    expect(replyText(replay)).not.toMatch(/Requested ACT-/);
    await expectAlive(bot);
  });
});
