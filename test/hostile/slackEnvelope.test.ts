import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackSignatureHeaders } from '../../src/sandbox/slackSigning.js';
import { blockActionsPayload, slashCommandFields, viewSubmissionPayload } from '../support/slackRequests.js';
import { TEST_SECRETS, type TestBot } from '../support/testBot.js';
import {
  type Answer,
  batches,
  expectAlive,
  FORM,
  fuzz,
  Hostile,
  headerSafe,
  hostileWord,
  JSON_TYPE,
  jsonPaths,
  mutateAt,
  nowSeconds,
  payloadForm,
  reuseAfterOversize,
  type SlackSendOptions,
  samples,
  sendSlack,
} from './support.js';

const SURFACE = 'POST /slack/events';
const MiB = 1024 * 1024;

const click = (actionId = 'incident_resolve', value = '1') => blockActionsPayload(actionId, value);
const form = (callbackId = 'incident_update') =>
  viewSubmissionPayload({ callback_id: callbackId, private_metadata: '1' }, { text: 'x' });
const command = () => slashCommandFields('list');
/** The v0 signature of `body` at `timestamp`, as Slack computes it. */
const signature = (timestamp: string, body: string) =>
  slackSignatureHeaders(TEST_SECRETS.signingSecret, body, timestamp as unknown as number)[
    'x-slack-signature'
  ];
const formBody = (fields: Record<string, string>) => new URLSearchParams(fields).toString();
const without = (value: Record<string, unknown>, key: string) => {
  const copy = { ...value };
  delete copy[key];
  return copy;
};
const okOrBadRequest = (answer: Answer) => expect([200, 400], answer.body).toContain(answer.status);
const errorOf = (answer: Answer) => String((answer.json as { error?: unknown } | undefined)?.error ?? '');

describe('hostile input: the Slack envelope at /slack/events', () => {
  let bot: TestBot;
  let hostile: Hostile;
  beforeAll(async () => {
    hostile = await Hostile.start('slack envelope');
    bot = hostile.bot;
  });
  afterAll(() => hostile?.stop());

  const probe = (label: string, body: string, options: SlackSendOptions, status: number) =>
    hostile.probe({
      surface: SURFACE,
      label,
      send: () => sendSlack(bot, body, options),
      carried: [body],
      status,
    });

  it('answers any method but POST with 405, an unsigned GET first (it used to stop the process)', async () => {
    await probe('unsigned GET', '', { method: 'GET', secret: null, contentType: null }, 405);
    await expectAlive(bot, 'an unsigned GET /slack/events');
    const body = payloadForm(click());
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'])
      await probe(`signed ${method}`, body, { method }, 405);
    await expectAlive(bot);
  });

  it('refuses a missing or wrong signature with 401', async () => {
    const body = payloadForm(click('no_such_action'));
    const ts = String(nowSeconds());
    const right = signature(ts, body);
    const cases: Array<[string, SlackSendOptions]> = [
      ['no signature headers', { secret: null }],
      ['a timestamp, no signature', { secret: null, headers: { 'x-slack-request-timestamp': ts } }],
      ['a signature, no timestamp', { secret: null, headers: { 'x-slack-signature': right } }],
      ['another secret', { secret: 'not-the-signing-secret' }],
      ['an empty secret', { secret: '' }],
      ['v0= and zeros', { headers: { 'x-slack-signature': `v0=${'0'.repeat(64)}` } }],
      ['v0= and nothing', { headers: { 'x-slack-signature': 'v0=' } }],
      [
        'upper-case hex',
        { timestamp: ts, headers: { 'x-slack-signature': `v0=${right.slice(3).toUpperCase()}` } },
      ],
      ['v1 scheme', { timestamp: ts, headers: { 'x-slack-signature': `v1=${right.slice(3)}` } }],
      ['signature twice', { timestamp: ts, headers: { 'x-slack-signature': `${right},${right}` } }],
      ['signature cut short', { timestamp: ts, headers: { 'x-slack-signature': right.slice(0, -1) } }],
      [
        'signature of another body',
        {
          timestamp: ts,
          headers: { 'x-slack-signature': signature(ts, `${body}&x=1`) },
        },
      ],
      [
        'signature of another timestamp',
        {
          timestamp: ts,
          headers: {
            'x-slack-signature': signature(String(Number(ts) - 1), body),
          },
        },
      ],
    ];
    for (const [label, options] of cases) await probe(label, body, options, 401);
  });

  it('refuses a timestamp more than five minutes off either way, or not in seconds, with 401', async () => {
    const body = payloadForm(click('no_such_action'));
    const now = nowSeconds();
    const refused: Array<number | string> = [
      now - 6 * 60,
      now + 6 * 60,
      now + 365 * 24 * 3600,
      now - 365 * 24 * 3600,
      Date.now(),
      '0',
      '-1',
      '1e9',
      `${now}.5`,
      `0${now}`,
      `+${now}`,
      `0x${now.toString(16)}`,
      'abc',
      '',
      '99999999999999999999',
      `${now}abc`,
    ];
    for (const timestamp of refused) {
      const answer = await probe(`timestamp ${JSON.stringify(timestamp)}`, body, { timestamp }, 401);
      expect(errorOf(answer), String(timestamp)).toMatch(/^x-slack-request-timestamp: /);
    }
  });

  it('refuses a signed body that is no envelope with 400 naming the path', async () => {
    const c = click();
    const v = form();
    const view = v.view as Record<string, unknown>;
    const action = (c.actions as Array<Record<string, unknown>>)[0]!;
    const cases: Array<[label: string, body: string, type: string, path: string]> = [
      ['payload=null', 'payload=null', FORM, 'payload'],
      ['payload=[]', payloadForm([]), FORM, 'payload'],
      ['payload="x"', payloadForm('"x"'), FORM, 'payload'],
      ['payload=1', 'payload=1', FORM, 'payload'],
      ['payload=true', 'payload=true', FORM, 'payload'],
      ['payload={}', payloadForm({}), FORM, 'payload'],
      ['payload not JSON', 'payload=%7B', FORM, 'payload'],
      ['payload empty', 'payload=', FORM, 'payload'],
      ['payload of an unknown type', payloadForm({ ...c, type: 'shortcut' }), FORM, 'payload'],
      ['JSON null', 'null', JSON_TYPE, '(root)'],
      ['JSON []', '[]', JSON_TYPE, '(root)'],
      ['JSON "x"', '"x"', JSON_TYPE, '(root)'],
      ['JSON {}', '{}', JSON_TYPE, ''],
      ['JSON not JSON', '{', JSON_TYPE, 'body'],
      ['event_callback without event', '{"type":"event_callback"}', JSON_TYPE, 'event'],
      ['event_callback with event null', '{"type":"event_callback","event":null}', JSON_TYPE, 'event'],
      ['url_verification without challenge', '{"type":"url_verification"}', JSON_TYPE, 'challenge'],
      [
        'url_verification with challenge 1',
        '{"type":"url_verification","challenge":1}',
        JSON_TYPE,
        'challenge',
      ],
      ['block_actions without user', payloadForm(without(c, 'user')), FORM, 'payload.user'],
      ['block_actions with user null', payloadForm({ ...c, user: null }), FORM, 'payload.user'],
      [
        'block_actions with user.id NUL',
        payloadForm({ ...c, user: { id: 'U0\u0000X' } }),
        FORM,
        'payload.user.id',
      ],
      ['block_actions with user.id 7', payloadForm({ ...c, user: { id: 7 } }), FORM, 'payload.user.id'],
      ['block_actions without actions', payloadForm(without(c, 'actions')), FORM, 'payload.actions'],
      [
        'block_actions with actions a string',
        payloadForm({ ...c, actions: 'approve' }),
        FORM,
        'payload.actions',
      ],
      [
        'block_actions with actions an object',
        payloadForm({ ...c, actions: { 0: action } }),
        FORM,
        'payload.actions',
      ],
      ['block_actions with actions []', payloadForm({ ...c, actions: [] }), FORM, 'payload.actions'],
      [
        'block_actions with actions [null]',
        payloadForm({ ...c, actions: [null] }),
        FORM,
        'payload.actions[0]',
      ],
      [
        'action_id a number',
        payloadForm({ ...c, actions: [{ ...action, action_id: 7 }] }),
        FORM,
        'payload.actions[0].action_id',
      ],
      [
        'action_id null',
        payloadForm({ ...c, actions: [{ ...action, action_id: null }] }),
        FORM,
        'payload.actions[0].action_id',
      ],
      [
        'action_id missing',
        payloadForm({ ...c, actions: [without(action, 'action_id')] }),
        FORM,
        'payload.actions[0].action_id',
      ],
      [
        'action value an object',
        payloadForm({ ...c, actions: [{ ...action, value: {} }] }),
        FORM,
        'payload.actions[0].value',
      ],
      ['trigger_id missing', payloadForm(without(c, 'trigger_id')), FORM, 'payload.trigger_id'],
      ['channel.id NUL', payloadForm({ ...c, channel: { id: 'C\u0000' } }), FORM, 'payload.channel.id'],
      ['message.ts not a ts', payloadForm({ ...c, message: { ts: 'now' } }), FORM, 'payload.message.ts'],
      ['view_submission without view', payloadForm(without(v, 'view')), FORM, 'payload.view'],
      ['view_submission with view null', payloadForm({ ...v, view: null }), FORM, 'payload.view'],
      ['view without state', payloadForm({ ...v, view: without(view, 'state') }), FORM, 'payload.view.state'],
      [
        'view with state {}',
        payloadForm({ ...v, view: { ...view, state: {} } }),
        FORM,
        'payload.view.state.values',
      ],
      [
        'view with state.values []',
        payloadForm({ ...v, view: { ...view, state: { values: [] } } }),
        FORM,
        'payload.view.state.values',
      ],
      [
        'view with a block that is null',
        payloadForm({ ...v, view: { ...view, state: { values: { text: null } } } }),
        FORM,
        'payload.view.state.values.text',
      ],
      [
        'view with callback_id 7',
        payloadForm({ ...v, view: { ...view, callback_id: 7 } }),
        FORM,
        'payload.view.callback_id',
      ],
      [
        'view with private_metadata {}',
        payloadForm({ ...v, view: { ...view, private_metadata: {} } }),
        FORM,
        'payload.view.private_metadata',
      ],
      ['view_submission without user', payloadForm(without(v, 'user')), FORM, 'payload.user'],
      [
        'slash command without user_id',
        formBody(without(command(), 'user_id') as Record<string, string>),
        FORM,
        'user_id',
      ],
      [
        'slash command without command',
        formBody(without(command(), 'command') as Record<string, string>),
        FORM,
        '',
      ],
      ['slash command not starting with /', formBody({ ...command(), command: 'incident' }), FORM, 'command'],
      [
        'slash command with channel_id NUL',
        formBody({ ...command(), channel_id: 'C0\u0000' }),
        FORM,
        'channel_id',
      ],
      [
        'slash command with trigger_id of spaces',
        formBody({ ...command(), trigger_id: '   ' }),
        FORM,
        'trigger_id',
      ],
      ['an empty form', '', FORM, ''],
    ];
    for (const [label, body, contentType, path] of cases) {
      const answer = await probe(label, body, { contentType }, 400);
      expect(errorOf(answer), label).toMatch(/^\S.*: /);
      expect(errorOf(answer).startsWith(path), `${label}: ${errorOf(answer)}`).toBe(true);
    }
    await expectAlive(bot, 'payload=null and a JSON null (they used to stop the process)');
  });

  it('refuses what is too big or not a form or JSON with a 4xx', async () => {
    await probe('body over 1 MiB', payloadForm({ pad: 'x'.repeat(MiB) }), {}, 413);
    await probe('text/plain', 'text=list', { contentType: 'text/plain' }, 415);
    await probe('no content-type', payloadForm(click()), { contentType: null }, 415);
    await probe('multipart', payloadForm(click()), { contentType: 'multipart/form-data; boundary=x' }, 415);
  });

  it('answers the next request on a keep-alive connection after refusing an oversized body, or closes it', async () => {
    const reuse = await reuseAfterOversize(
      bot.url,
      '/slack/events',
      {
        'content-type': FORM,
        'x-slack-request-timestamp': String(nowSeconds()),
        'x-slack-signature': `v0=${'0'.repeat(64)}`,
      },
      MiB,
    );
    expect(reuse.first).toMatch(/^HTTP\/1\.1 413/);
    expect(reuse.then).not.toBe('hung');
  });

  it('acknowledges at once, with an empty 200, a click or form no listener answers', async () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['unknown action_id', click('no_such_action')],
      ['empty action_id', click('')],
      ['action_id __proto__', click('__proto__')],
      ['action_id constructor', click('constructor')],
      ['action_id with a NUL', click('incident_resolve\u0000')],
      ['action_id of 255 characters', click('a'.repeat(255))],
      ['unknown callback_id', form('no_such_form')],
      ['empty callback_id', form('')],
      ['callback_id toString', form('toString')],
      ['view_closed', { ...form('incident_update'), type: 'view_closed' }],
    ];
    for (const [label, payload] of cases) {
      const answer = await hostile.probe({
        surface: SURFACE,
        label,
        send: () => sendSlack(bot, payloadForm(payload)),
        carried: [],
        status: 200,
        afterAck: true,
      });
      expect(answer.body, label).toBe('');
    }
  });

  it("answers Slack's SSL check and URL verification, and acknowledges events it does not handle", async () => {
    expect((await probe('ssl_check', 'ssl_check=1&token=x', {}, 200)).body).toBe('');
    const verify = JSON.stringify({ type: 'url_verification', challenge: 'c-hostile-1', token: 'x' });
    expect((await probe('url_verification', verify, { contentType: JSON_TYPE }, 200)).json).toEqual({
      challenge: 'c-hostile-1',
    });
    const event = {
      type: 'event_callback',
      event: { type: 'app_mention', text: '<!channel> hi', user: 'U0EVIL1' },
    };
    await probe(
      'an event the app never subscribed to',
      JSON.stringify(event),
      { contentType: JSON_TYPE },
      200,
    );
  });

  it('answers any generated payload with 200 or 400, writing nothing', async () => {
    await fc.assert(
      fc.asyncProperty(fc.jsonValue({ maxDepth: 3 }), async (payload) => {
        const body = payloadForm(JSON.stringify(payload) ?? 'null');
        const answer = await hostile.probe({
          surface: SURFACE,
          label: body.slice(0, 300),
          send: () => sendSlack(bot, body),
          carried: [JSON.stringify(payload) ?? ''],
          afterAck: true,
          generated: true,
        });
        expect([200, 400], answer.body).toContain(answer.status);
      }),
      fuzz(100),
    );
  });

  it('answers a click or form with any one field replaced, or removed, with 200 or 400, writing nothing', async () => {
    const bases = [
      click('incident_resolve', '1'),
      click('action_approve', '1'),
      form('incident_update'),
      form('incident_resolve'),
    ];
    const replacement = fc.oneof(fc.constant(undefined), hostileWord, fc.jsonValue({ maxDepth: 2 }));
    const generated = samples(
      fc
        .nat(bases.length - 1)
        .chain((i) => fc.tuple(fc.constant(i), fc.constantFrom(...jsonPaths(bases[i]!)), replacement)),
      80,
    );
    for (const batch of batches(generated))
      await hostile.probeAll(
        batch.map(([i, path, value]) => {
          const json = JSON.stringify(mutateAt(bases[i]!, path, value));
          return {
            surface: SURFACE,
            label: `${path.join('.')} = ${JSON.stringify(value)?.slice(0, 200)}`,
            send: () => sendSlack(bot, payloadForm(json)),
            carried: [json],
            afterAck: true,
            generated: true,
            check: okOrBadRequest,
          };
        }),
      );
  });

  it('answers generated form bodies and timestamps with a 4xx or a 200, never more', async () => {
    const field = fc.constantFrom(
      'payload',
      'ssl_check',
      'command',
      'text',
      'user_id',
      'type',
      'challenge',
      'token',
    );
    await hostile.probeAll(
      samples(fc.dictionary(field, hostileWord, { maxKeys: 4 }), 60).map((fields) => {
        const body = formBody(fields);
        return {
          surface: SURFACE,
          label: body.slice(0, 300),
          send: () => sendSlack(bot, body),
          carried: Object.values(fields),
          afterAck: true,
          generated: true,
          check: okOrBadRequest,
        };
      }),
    );
    await fc.assert(
      fc.asyncProperty(hostileWord.filter(headerSafe), async (timestamp) => {
        await hostile.probe({
          surface: SURFACE,
          label: `timestamp ${JSON.stringify(timestamp)}`,
          send: () => sendSlack(bot, payloadForm(click()), { timestamp }),
          carried: [],
          status: 401,
          generated: true,
        });
      }),
      fuzz(40),
    );
  });

  it('wrote nothing, posted nothing, and still answers /healthz', async () => {
    await hostile.expectNothingWrittenSinceBegin();
    await expectAlive(bot);
  });
});
