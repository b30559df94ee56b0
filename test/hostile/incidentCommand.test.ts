import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestBot } from '../support/testBot.js';
import {
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
  slashProbe,
  unescapeSlack,
  withNul,
} from './support.js';

const COMMAND = '/incident';
const SUBCOMMANDS = [
  'help',
  'list',
  'stats',
  'declare',
  'update',
  'severity',
  'assign',
  'note',
  'timeline',
  'resolve',
  'postmortem',
];
// Subcommands that act on an incident: named by INC-n, or the one of the channel they are used in.
const ON_AN_INCIDENT = ['update', 'severity', 'assign', 'note', 'timeline', 'resolve', 'postmortem'];
const NO_SUCH_INCIDENT = 'INC-987654321';
const firstWord = (text: string) => (unescapeSlack(text).match(/\S+/)?.[0] ?? '').toLowerCase();

describe('hostile input: /incident', () => {
  let bot: TestBot;
  let hostile: Hostile;
  beforeAll(async () => {
    hostile = await Hostile.start('/incident');
    bot = hostile.bot;
  });
  afterAll(() => hostile?.stop());

  const refused = (text: string, label?: string) => hostile.refusedCommand(COMMAND)(text, label);

  it('refuses unknown subcommands, names of object keys and markup as subcommands, with usage', async () => {
    for (const sub of ['frobnicate', 'declar', 'DECLARE2', 'ls', '💥', '--help', '-h', ...PROTO_NAMES])
      await refused(`${sub} P1 title`);
    for (const markup of LIVE_MARKUP) {
      await refused(`${markup} P1 title`);
      await refused(`${escapeSlack(markup)} P1 title`);
    }
  });

  it('refuses a declare without a severity or a title, or with markup for a severity, and echoes nothing live', async () => {
    for (const text of [
      'declare',
      'declare P1',
      'declare P1    ',
      'declare P5 title',
      'declare p-1 title',
      'declare --force P1 x',
      'declare -n=1 P1 x',
      'declare P1\u0000 title',
    ])
      await refused(text);
    for (const markup of LIVE_MARKUP) {
      await refused(`declare ${markup} Checkout is down`);
      // As Slack sends it: `<`, `>` and `&` escaped, which the bot undoes once.
      await refused(`declare ${escapeSlack(markup)} Checkout is down`);
    }
    await refused(`declare P1 ${'t'.repeat(201)}`, 'a title of 201 characters');
    await refused(`declare P1 ${'t'.repeat(100_000)}`, 'a title of 100 KB');
    await refused(`${'x'.repeat(100_000)}`, '100 KB of text');
  });

  it('refuses a NUL in a declare title with usage: it never reaches PostgreSQL', async () => {
    for (const title of ['a\u0000b', '\u0000', 'Checkout down\u0000<!channel>', `${'t'.repeat(100)}\u0000`])
      await refused(`declare P1 ${title}`, `declare P1 ${JSON.stringify(title)}`);
  });

  it('refuses commands about an incident that does not exist, or in a channel without one', async () => {
    const rest: Record<string, string[]> = {
      update: ['identified <!channel> it broke', 'monitoring', ''],
      severity: ['P0', '<!here>', '__proto__'],
      assign: [
        `commander <@${EVIL.user}>`,
        `commander <@${EVIL.user}|boss>`,
        'commander <!here>',
        `__proto__ <@${EVIL.user}>`,
        `<!here> <@${EVIL.user}>`,
      ],
      note: ['<https://evil.example|click> here', 'a\u0000b', 'x'.repeat(3001)],
      timeline: ['', 'extra'],
      resolve: ['<!channel> fixed', 'a\u0000b'],
      postmortem: ['', '<!here>'],
    };
    for (const sub of ON_AN_INCIDENT)
      for (const tail of rest[sub]!) {
        await refused(`${sub} ${NO_SUCH_INCIDENT} ${tail}`.trim());
        await refused(`${sub} ${tail}`.trim());
        await refused(`${sub} ${escapeSlack(tail)}`.trim());
      }
    for (const id of ['INC-0', 'INC-99999999999', 'INC--1', 'INC-1.5', 'INC-1e3', 'inc-__proto__'])
      await refused(`note ${id} text`);
  });

  it('refuses generated text with usage, writing nothing and echoing nothing live', async () => {
    const known = new Set(SUBCOMMANDS);
    const generators = {
      'an unknown subcommand': hostileText(6).filter((t) => firstWord(t) !== '' && !known.has(firstWord(t))),
      'a declare with no severity': fc
        .tuple(
          hostileWord.filter((w) => !/^p[0-4]$/i.test(firstWord(w)) && firstWord(w) !== ''),
          hostileText(4),
        )
        .map(([severity, title]) => `declare ${severity} ${title}`),
      'a declare with a NUL in its title': fc
        .tuple(fc.constantFrom('P0', 'P1', 'P2', 'P3', 'P4'), withNul)
        .map(([severity, title]) => `declare ${severity} ${title}`),
      'a stats period that is not one': hostileWord
        .filter((w) => firstWord(w) !== '' && !['7d', '30d', '90d'].includes(firstWord(w)))
        .map((period) => `stats ${period}`),
      'an incident that does not exist': fc
        .tuple(fc.constantFrom(...ON_AN_INCIDENT), hostileText(4))
        .map(([sub, tail]) => `${sub} ${NO_SUCH_INCIDENT} ${tail}`),
      'no incident in the channel': fc
        .tuple(fc.constantFrom(...ON_AN_INCIDENT), hostileText(4))
        .filter(([, tail]) => !/^INC-\d/i.test(firstWord(tail)))
        .map(([sub, tail]) => `${sub} ${tail}`),
    };
    for (const [what, text] of Object.entries(generators))
      await fc.assert(
        fc.asyncProperty(text, async (t) => {
          const answer = await slashProbe(hostile, COMMAND, t, {
            generated: true,
            label: `${what}: ${JSON.stringify(t).slice(0, 200)}`,
          });
          expect(replyText(answer)).toMatch(/Usage:/);
        }),
        fuzz(40),
      );
  });

  it('wrote nothing, posted nothing, and still answers /healthz', async () => {
    await hostile.expectNothingWrittenSinceBegin();
    await expectAlive(bot);
  });

  // Form encoding cannot carry a lone surrogate: the bytes Slack would send for one decode to U+FFFD, ordinary
  // text. So this is a declare that may succeed, as long as what it stores is well-formed.
  it('takes the bytes of a lone surrogate in a title as U+FFFD, or refuses them, without a 5xx', async () => {
    const answer = await slashProbe(hostile, COMMAND, 'declare P3 a\ufffdb', {
      rawText: 'declare%20P3%20a%ED%A0%80b',
      label: 'declare P3 a%ED%A0%80b',
      outcome: 'by-status',
      channel: 'C0SURROGATE',
    });
    expect(replyText(answer)).toMatch(/Declared INC-\d+|Usage:/);
    const { rows } = await bot.app.pool.query<{ title: string }>('SELECT title FROM incidents');
    for (const { title } of rows) expect(title.isWellFormed(), title).toBe(true);
    await expectAlive(bot);
  });
});
