import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { WebhookPayload } from '../../src/alerts/payload.js';
import { payload } from '../support/alertmanager.js';
import { allIngested } from '../support/deliveries.js';
import { TEST_SECRETS, type TestBot } from '../support/testBot.js';
import {
  type Answer,
  expectAlive,
  FRAGMENTS,
  fuzz,
  Hostile,
  hostileText,
  JSON_TYPE,
  LIVE_MARKUP,
  PROTO_NAMES,
  reuseAfterOversize,
  type SendInit,
  send,
  stringsOf,
} from './support.js';

const SURFACE = 'POST /alertmanager';
const AUTH = { authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}` };
const MiB = 1024 * 1024;

let groups = 0;
/** A valid delivery of a group of its own. */
const delivery = (): WebhookPayload => {
  groups++;
  return payload({ group: `Hostile${groups}`, alerts: [{ instance: `web-${groups}` }] });
};

type Mutation = (p: WebhookPayload, text: string) => unknown;
/** Where text from Alertmanager is stored, and the path the 400 must name. */
const TEXT_FIELDS: Array<[path: string, Mutation]> = [
  ['groupKey', (p, t) => Object.assign(p, { groupKey: t })],
  ['receiver', (p, t) => Object.assign(p, { receiver: t })],
  ['externalURL', (p, t) => Object.assign(p, { externalURL: t })],
  ['groupLabels', (p, t) => Object.assign(p.groupLabels, { alertname: t })],
  // Spread, not Object.assign, for a key: assigning `__proto__` would set the prototype instead.
  ['commonLabels', (p, t) => Object.assign(p, { commonLabels: { ...p.commonLabels, [t]: 'x' } })],
  ['commonAnnotations', (p, t) => Object.assign(p.commonAnnotations, { summary: t })],
  [
    'alerts[0].labels',
    (p, t) => Object.assign(p.alerts[0]!, { labels: { ...p.alerts[0]!.labels, [t]: 'v' } }),
  ],
  ['alerts[0].labels', (p, t) => Object.assign(p.alerts[0]!.labels, { instance: t })],
  ['alerts[0].annotations', (p, t) => Object.assign(p.alerts[0]!, { annotations: { [t]: 'x' } })],
  [
    'alerts[0].annotations',
    (p, t) => Object.assign(p.alerts[0]!.annotations, { summary: t, description: t }),
  ],
  ['alerts[0].generatorURL', (p, t) => Object.assign(p.alerts[0]!, { generatorURL: t })],
  ['alerts[0].fingerprint', (p, t) => Object.assign(p.alerts[0]!, { fingerprint: t })],
];
const mutated = (field: number, text: string) => {
  const p = delivery();
  TEXT_FIELDS[field]![1](p, text);
  return p;
};
/** A body streamed in chunks, with no length to refuse it by up front. */
function* chunks(count: number, size: number) {
  for (let i = 0; i < count; i++) yield Buffer.alloc(size, 'x');
}
const storable = (text: string) => !text.includes('\u0000') && text.isWellFormed();

describe('hostile input: POST /alertmanager', () => {
  let bot: TestBot;
  let hostile: Hostile;
  beforeAll(async () => {
    hostile = await Hostile.start('webhook');
    bot = hostile.bot;
  });
  afterAll(() => hostile?.stop());

  // What an accepted delivery changes is looked for once it is ingested.
  const post = async (body: SendInit['body'], headers: Record<string, string> = AUTH, method = 'POST') => {
    const answer = await send(`${bot.url}/alertmanager`, {
      method,
      headers: { 'content-type': JSON_TYPE, ...headers },
      body,
    });
    await allIngested(bot.app.pool, () => bot.app.deliveriesIdle());
    return answer;
  };
  const errorOf = (answer: Answer) => String((answer.json as { error?: unknown } | undefined)?.error ?? '');

  it('refuses other methods (405), a missing or wrong bearer token (401) and oversized bodies (413)', async () => {
    const body = JSON.stringify(delivery());
    const cases: Array<[string, number, () => Promise<Answer>]> = [
      ...['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'].map(
        (method): [string, number, () => Promise<Answer>] => [
          method,
          405,
          () => post(method === 'GET' || method === 'HEAD' ? undefined : body, AUTH, method),
        ],
      ),
      ['no authorization', 401, () => post(body, {})],
      ['empty bearer', 401, () => post(body, { authorization: 'Bearer ' })],
      ['bearer only', 401, () => post(body, { authorization: 'Bearer' })],
      ['wrong token', 401, () => post(body, { authorization: 'Bearer am-token-wrong' })],
      [
        'token prefix',
        401,
        () => post(body, { authorization: `Bearer ${TEST_SECRETS.alertmanagerToken.slice(0, -1)}` }),
      ],
      [
        'token and more',
        401,
        () => post(body, { authorization: `Bearer ${TEST_SECRETS.alertmanagerToken}x` }),
      ],
      [
        'basic scheme',
        401,
        () => post(body, { authorization: `Basic ${btoa(`x:${TEST_SECRETS.alertmanagerToken}`)}` }),
      ],
      ['token as the scheme', 401, () => post(body, { authorization: TEST_SECRETS.alertmanagerToken })],
      ['body over 32 MiB', 413, () => post(`{"pad":"${'x'.repeat(32 * MiB)}"}`)],
      ['body over 32 MiB, chunked', 413, () => post(chunks(32 * 16 + 1, 64 * 1024))],
    ];
    for (const [label, status, sendIt] of cases)
      await hostile.probe({ surface: SURFACE, label, send: sendIt, carried: [], status });
    // A header over Node's limit is refused by the HTTP parser itself: still an answer, still a 4xx.
    await hostile.probe({
      surface: SURFACE,
      label: '20 KB authorization header',
      send: () => post(body, { authorization: `Bearer ${'x'.repeat(20_000)}` }),
      carried: [],
      status: 431,
    });
    await expectAlive(bot, 'the refused methods, tokens and sizes');
  });

  it('answers the next request on a keep-alive connection after refusing an oversized body, or closes it', async () => {
    const reuse = await reuseAfterOversize(
      bot.url,
      '/alertmanager',
      { ...AUTH, 'content-type': JSON_TYPE },
      32 * MiB,
    );
    expect(reuse.first).toMatch(/^HTTP\/1\.1 413/);
    expect(reuse.then).not.toBe('hung');
  });

  it('refuses what is not a version 4 payload with 400 naming the failing path', async () => {
    const valid = delivery();
    const alert = valid.alerts[0]!;
    const deep = `${'['.repeat(100_000)}${']'.repeat(100_000)}`;
    const cases: Array<[label: string, body: string, path: string]> = [
      ['empty body', '', 'body'],
      ['not JSON', '{', 'body'],
      ['trailing garbage', `${JSON.stringify(valid)}x`, 'body'],
      ['a byte-order mark', `\ufeff${JSON.stringify(valid)}`, 'body'],
      ['null', 'null', '(root)'],
      ['an array', '[]', '(root)'],
      ['a string', '"x"', '(root)'],
      ['a number', '4', '(root)'],
      ['100,000 nested arrays', deep, ''],
      ['an empty object', '{}', 'version'],
      ['version 3', JSON.stringify({ ...valid, version: '3' }), 'version'],
      ['version as a number', JSON.stringify({ ...valid, version: 4 }), 'version'],
      ['no groupKey', JSON.stringify({ ...valid, groupKey: undefined }), 'groupKey'],
      ['empty groupKey', JSON.stringify({ ...valid, groupKey: '' }), 'groupKey'],
      [
        'groupKey of 10,001 characters',
        JSON.stringify({ ...valid, groupKey: 'g'.repeat(10_001) }),
        'groupKey',
      ],
      ['unknown status', JSON.stringify({ ...valid, status: 'on fire' }), 'status'],
      ['receiver as an object', JSON.stringify({ ...valid, receiver: {} }), 'receiver'],
      ['truncatedAlerts -1', JSON.stringify({ ...valid, truncatedAlerts: -1 }), 'truncatedAlerts'],
      ['truncatedAlerts 1.5', JSON.stringify({ ...valid, truncatedAlerts: 1.5 }), 'truncatedAlerts'],
      ['truncatedAlerts as text', JSON.stringify({ ...valid, truncatedAlerts: '1' }), 'truncatedAlerts'],
      ['no alerts', JSON.stringify({ ...valid, alerts: [] }), 'alerts'],
      ['alerts as an object', JSON.stringify({ ...valid, alerts: { 0: alert } }), 'alerts'],
      ['an alert that is null', JSON.stringify({ ...valid, alerts: [null] }), 'alerts[0]'],
      [
        'labels as an array',
        JSON.stringify({ ...valid, alerts: [{ ...alert, labels: ['a'] }] }),
        'alerts[0].labels',
      ],
      [
        'a label value that is a number',
        JSON.stringify({ ...valid, alerts: [{ ...alert, labels: { a: 1 } }] }),
        'alerts[0].labels',
      ],
      [
        'a label value that is null',
        JSON.stringify({ ...valid, alerts: [{ ...alert, labels: { a: null } }] }),
        'alerts[0].labels',
      ],
      ['commonLabels as a string', JSON.stringify({ ...valid, commonLabels: 'a=b' }), 'commonLabels'],
      [
        'startsAt not a time',
        JSON.stringify({ ...valid, alerts: [{ ...alert, startsAt: 'yesterday' }] }),
        'alerts[0].startsAt',
      ],
      [
        // An RFC 3339 time PostgreSQL has no year for: refused now, not dropped after a 200.
        'startsAt in the year 0',
        JSON.stringify({ ...valid, alerts: [{ ...alert, startsAt: '0000-01-01T00:00:00Z' }] }),
        'alerts[0].startsAt',
      ],
      [
        // An offset PostgreSQL refuses (past ±15:59): the whole notification was dropped after a 200.
        'startsAt with an offset of 23 hours',
        JSON.stringify({ ...valid, alerts: [{ ...alert, startsAt: '2026-11-23T08:00:00+23:00' }] }),
        'alerts[0].startsAt',
      ],
      [
        'endsAt a number',
        JSON.stringify({ ...valid, alerts: [{ ...alert, endsAt: 0 }] }),
        'alerts[0].endsAt',
      ],
      [
        'empty fingerprint',
        JSON.stringify({ ...valid, alerts: [{ ...alert, fingerprint: '' }] }),
        'alerts[0].fingerprint',
      ],
      [
        'fingerprint of 65 characters',
        JSON.stringify({ ...valid, alerts: [{ ...alert, fingerprint: 'f'.repeat(65) }] }),
        'alerts[0].fingerprint',
      ],
      [
        'alert status unknown',
        JSON.stringify({ ...valid, alerts: [{ ...alert, status: 'x' }] }),
        'alerts[0].status',
      ],
    ];
    for (const [label, body, path] of cases) {
      const answer = await hostile.probe({
        surface: SURFACE,
        label,
        send: () => post(body),
        carried: [],
        status: 400,
      });
      expect(errorOf(answer), label).toMatch(/^\S.*: /);
      expect(errorOf(answer).startsWith(path), `${label}: ${errorOf(answer)}`).toBe(true);
    }
  });

  // A refusal names the path, label names and all: it goes to Alertmanager, never to Slack, so the
  // live-markup check applies to what is posted (the accepted inputs below), not to refusals' bodies.
  it('refuses a NUL or a lone UTF-16 surrogate wherever text is stored, with 400 naming the path', async () => {
    for (const [field, [path]] of TEXT_FIELDS.entries())
      for (const [what, bad] of [
        ['NUL', 'a\u0000b'],
        ['lone high surrogate', 'a\ud800b'],
        ['lone low surrogate', '\udfff'],
      ]) {
        // JSON.stringify writes a lone surrogate as the \ud800 escape, which JSON.parse turns back into one.
        const body = JSON.stringify(mutated(field, bad!));
        const answer = await hostile.probe({
          surface: SURFACE,
          label: `${what} in ${path} (#${field})`,
          send: () => post(body),
          carried: [],
          status: 400,
        });
        expect(errorOf(answer).startsWith(path), `${what} in ${path}: ${errorOf(answer)}`).toBe(true);
      }
  });

  it('refuses generated JSON that is no payload with 400', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 4 }), async (value) => {
        const body = JSON.stringify(value) ?? 'null';
        const answer = await hostile.probe({
          surface: SURFACE,
          label: body.slice(0, 200),
          send: () => post(body),
          carried: [],
          status: 400,
          generated: true,
        });
        expect(errorOf(answer)).toMatch(/: /);
      }),
      fuzz(100),
    );
  });

  it('refuses generated text holding a NUL or a lone surrogate in any stored field, naming the path', async () => {
    const unstorable = fc
      .tuple(
        hostileText(3),
        fc.constantFrom('\u0000', '\ud800', '\udbff', '\udc00', '\udfff'),
        hostileText(3),
      )
      .map(([a, bad, b]) => `${a}${bad}${b}`);
    await fc.assert(
      fc.asyncProperty(fc.nat(TEXT_FIELDS.length - 1), unstorable, async (field, text) => {
        const body = JSON.stringify(mutated(field, text));
        const path = TEXT_FIELDS[field]![0];
        const answer = await hostile.probe({
          surface: SURFACE,
          label: `${path} = ${JSON.stringify(text).slice(0, 200)}`,
          send: () => post(body),
          carried: [],
          status: 400,
          generated: true,
        });
        expect(errorOf(answer).startsWith(path), errorOf(answer)).toBe(true);
      }),
      fuzz(100),
    );
  });

  it('wrote nothing and posted nothing for any refused delivery', async () => {
    await hostile.expectNothingWrittenSinceBegin();
    await expectAlive(bot);
  });

  it('takes 10,000 labels, 100 KB values and labels named like object keys as ordinary data', async () => {
    const accepted = async (label: string, p: WebhookPayload) => {
      const body = JSON.stringify(p);
      const outcome = await hostile.probe({
        surface: SURFACE,
        label,
        send: () => post(body),
        carried: stringsOf(p),
        outcome: 'accepted',
        status: 200,
      });
      // The live-markup check looked at the incident's message: it must have been posted.
      expect(
        outcome.posted.map((c) => c.method),
        label,
      ).toContain('chat.postMessage');
    };
    const many = delivery();
    for (let i = 0; i < 10_000; i++) many.alerts[0]!.labels[`label_${i}`] = `value ${i}`;
    await accepted('10,000 labels', many);

    const big = delivery();
    big.alerts[0]!.labels.instance = 'v'.repeat(100_000);
    big.alerts[0]!.annotations = { summary: 's'.repeat(100_000), description: 'd'.repeat(100_000) };
    await accepted('100 KB label and annotation values', big);

    const named = delivery();
    // JSON.parse makes "__proto__" an own key, as it does for Alertmanager's JSON.
    const keys = (value: string) =>
      JSON.parse(JSON.stringify(Object.fromEntries(PROTO_NAMES.map((n) => [n, value]))));
    named.alerts[0]!.labels = { ...named.alerts[0]!.labels, ...keys('label') };
    named.alerts[0]!.annotations = keys('annotation');
    named.commonLabels = { ...named.commonLabels, ...keys('common') };
    await accepted('labels and annotations named __proto__, constructor, toString', named);
    // Read in SQL: pg's row parser is a JSON.parse, the very kind of lookup this is about.
    const { rows } = await bot.app.pool.query(
      `SELECT n AS name, labels ->> n AS label, annotations ->> n AS annotation
         FROM alerts, unnest($2::text[]) n WHERE fingerprint = $1 ORDER BY n`,
      [named.alerts[0]!.fingerprint, PROTO_NAMES],
    );
    expect(rows).toEqual(
      [...PROTO_NAMES].sort().map((name) => ({ name, label: 'label', annotation: 'annotation' })),
    );

    const markup = delivery();
    markup.alerts[0]!.labels.instance = LIVE_MARKUP.join(' ');
    markup.alerts[0]!.annotations = {
      summary: LIVE_MARKUP.join(' '),
      description: FRAGMENTS.filter(storable).join(' '),
    };
    markup.commonAnnotations = { summary: '<!channel> <https://evil.example|click>' };
    await accepted('mentions and links in labels and annotations', markup);
    await expectAlive(bot);
  });

  it('takes generated storable text in any field, or refuses it with 400, and never posts it live', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.nat(TEXT_FIELDS.length - 1),
        hostileText(5).filter(storable),
        async (field, text) => {
          const body = JSON.stringify(mutated(field, text));
          const answer = await hostile.probe({
            surface: SURFACE,
            label: `${TEXT_FIELDS[field]![0]} = ${JSON.stringify(text).slice(0, 200)}`,
            send: () => post(body),
            carried: [text],
            // Some fields have limits (a fingerprint's length, a groupKey's): a 400 there is held as refused.
            outcome: 'by-status',
            generated: true,
          });
          expect([200, 400], errorOf(answer)).toContain(answer.status);
        },
      ),
      fuzz(30),
    );
    await expectAlive(bot);
  });
});
