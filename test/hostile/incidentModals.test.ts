import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RESOLVE_MODAL, UPDATE_MODAL } from '../../src/views/modals.js';
import { EXTEND_MODAL, SILENCE_MODAL } from '../../src/views/silenceModals.js';
import { INCIDENT_CHANNEL } from '../support/slackRequests.js';
import type { TestBot } from '../support/testBot.js';
import {
  BAD_ID_VALUES,
  batches,
  declareIncident,
  expectAlive,
  Hostile,
  type HostileInput,
  hostileText,
  hostileWord,
  LIVE_MARKUP,
  mutateAt,
  type Outcome,
  type PostedMessage,
  PROTO_NAMES,
  samples,
  type ViewField,
  viewInput,
  viewProbe,
  withNul,
} from './support.js';

const VALID_UPDATE: Record<string, ViewField> = {
  status: { selected: 'identified' },
  text: 'Pool exhausted',
};
const VALID_RESOLVE: Record<string, ViewField> = { resolution: 'Rolled back the deploy' };
const VALID_SILENCE: Record<string, ViewField> = {
  duration: { selected: '1h' },
  reason: 'Deploying the fix',
  matchers: 'service="payments-api"',
};
const VALID_EXTEND: Record<string, ViewField> = { duration: { selected: '1h' } };
const BIG = 'b'.repeat(100_000);
const blank = fc.constantFrom('', ' ', '\n\t ', '\u00a0');

/** A check: a submission is refused in the form (errors under a field) or by the envelope check (400), never taken. */
function refusedInForm(outcome: Outcome): void {
  if (outcome.status === 400) return;
  expect(outcome.status).toBe(200);
  const body = outcome.json as { response_action?: string; errors?: Record<string, string> } | undefined;
  expect(body?.response_action, outcome.body.slice(0, 200)).toBe('errors');
  expect(Object.values(body?.errors ?? {}).join('')).not.toBe('');
}

describe('hostile input: the update and resolve forms', () => {
  let bot: TestBot;
  let hostile: Hostile;
  let incident: PostedMessage;
  let id: string;
  beforeAll(async () => {
    hostile = await Hostile.start('incident forms', {
      setUp: async (b) => {
        incident = await declareIncident(b, INCIDENT_CHANNEL);
        id = String(incident.id);
      },
    });
    bot = hostile.bot;
  });
  afterAll(() => hostile?.stop());

  const submitAll = (inputs: HostileInput[]) =>
    hostile.probeAll(inputs.map((input) => ({ ...input, check: refusedInForm })));
  const label = (what: string, value: unknown) => `${what} = ${JSON.stringify(value)?.slice(0, 120)}`;

  it.each([
    [UPDATE_MODAL, VALID_UPDATE],
    [RESOLVE_MODAL, VALID_RESOLVE],
    [SILENCE_MODAL, VALID_SILENCE],
    [EXTEND_MODAL, VALID_EXTEND],
  ])('%s: refuses private_metadata that names no incident', async (callbackId, fields) => {
    const metadata = [
      ...BAD_ID_VALUES,
      '9'.repeat(20),
      `${id}\u0000`,
      ` ${id}`,
      `${id} `,
      `0${id}`,
      `${id}.0`,
    ];
    await submitAll([
      ...metadata.map((m) => viewInput(bot, callbackId, m, fields, { label: label('private_metadata', m) })),
      viewInput(bot, callbackId, 'x'.repeat(3001), fields, {
        label: 'private_metadata of 3001 characters',
        status: 400,
      }),
    ]);
  });

  it(`${UPDATE_MODAL}: refuses missing, blank, oversized, unstorable and unknown field values`, async () => {
    const cases: Array<[string, Record<string, ViewField>]> = [
      ['no fields', {}],
      ['no text', { status: { selected: 'identified' } }],
      ...['', '   ', '\n\n', 'a\u0000b', '\u0000', 'a\ud800b', '\udfff', 't'.repeat(3001), BIG].map(
        (text): [string, Record<string, ViewField>] => [label('text', text), { ...VALID_UPDATE, text }],
      ),
      ...['resolved', 'investigating\u0000', '', '__proto__', 'constructor', '<!here>', BIG].map(
        (status): [string, Record<string, ViewField>] => [
          label('status', status),
          { ...VALID_UPDATE, status: { selected: status } },
        ],
      ),
      ...['0', '-1', '1441', '1e3', '99999', '5\u0000', '１', '0x10', 'NaN', '<!here>'].map(
        (next): [string, Record<string, ViewField>] => [
          label('next_update', next),
          { ...VALID_UPDATE, next_update: next },
        ],
      ),
      ...(['impact', 'affected', 'eta'] as const).flatMap((field) =>
        ['x'.repeat(501), BIG, 'a\u0000b', 'a\ud800b'].map((value): [string, Record<string, ViewField>] => [
          label(field, value),
          { ...VALID_UPDATE, [field]: value },
        ]),
      ),
      [label('text', 'markup, with a NUL'), { ...VALID_UPDATE, text: `${LIVE_MARKUP.join(' ')}\u0000` }],
    ];
    await submitAll(cases.map(([what, fields]) => viewInput(bot, UPDATE_MODAL, id, fields, { label: what })));
  });

  it(`${RESOLVE_MODAL}: refuses a missing, blank, oversized or unstorable resolution`, async () => {
    const resolutions = [
      '',
      '   ',
      'a\u0000b',
      '\u0000',
      'a\ud800b',
      '\udbff',
      'r'.repeat(3001),
      BIG,
      `${LIVE_MARKUP.join(' ')}\u0000`,
    ];
    await submitAll([
      viewInput(bot, RESOLVE_MODAL, id, {}, { label: 'no resolution' }),
      viewInput(bot, RESOLVE_MODAL, id, { text: 'Rolled back' }, { label: 'the update form’s field' }),
      ...resolutions.map((resolution) =>
        viewInput(bot, RESOLVE_MODAL, id, { resolution }, { label: label('resolution', resolution) }),
      ),
    ]);
  });

  it.each([
    [UPDATE_MODAL, VALID_UPDATE],
    [RESOLVE_MODAL, VALID_RESOLVE],
  ])(
    '%s: refuses or ignores state values of the wrong shape, and blocks named like object keys',
    async (callbackId, fields) => {
      const block = Object.keys(fields).at(-1)!;
      const shapes: Array<[string, unknown]> = [
        ['a value that is a number', { value: { type: 'plain_text_input', value: 7 } }],
        ['a value that is an object', { value: { type: 'plain_text_input', value: { text: 'x' } } }],
        ['a value that is null', { value: { type: 'plain_text_input', value: null } }],
        ['an action that is null', { value: null }],
        ['a block that is a string', 'x'],
        [
          'a selected option that is a string',
          { value: { type: 'static_select', selected_option: 'identified' } },
        ],
        [
          'a selected option whose value is 7',
          { value: { type: 'static_select', selected_option: { value: 7 } } },
        ],
        ['an action id other than value', { other: { type: 'plain_text_input', value: 'x' } }],
      ];
      const inputs = shapes.map(([what, shape]) =>
        viewInput(bot, callbackId, id, fields, {
          label: `${block}: ${what}`,
          edit: (p) => mutateAt(p, ['view', 'state', 'values', block], shape),
        }),
      );
      for (const name of PROTO_NAMES)
        inputs.push(
          viewInput(
            bot,
            callbackId,
            id,
            {},
            {
              label: `a block named ${name} and no ${block}`,
              edit: (p) =>
                mutateAt(
                  p,
                  ['view', 'state', 'values'],
                  JSON.parse(
                    `{${JSON.stringify(name)}: {"value": {"type": "plain_text_input", "value": "x"}}}`,
                  ),
                ),
            },
          ),
        );
      await submitAll(inputs);
    },
  );

  it('refuses generated submissions, each with something wrong in it', async () => {
    const notAnId = hostileWord.filter((m) => m !== id && m.length <= 3000);
    const storable = (t: string) => !t.includes('\u0000') && t.isWellFormed();
    const unstorable = fc.oneof(
      withNul,
      fc.tuple(hostileText(2), fc.constantFrom('\ud800', '\udfff'), hostileText(2)).map((p) => p.join('')),
    );
    const kinds = fc.oneof(
      // A form that names no incident (null below: the real one).
      fc.record({
        callback: fc.constantFrom(UPDATE_MODAL, RESOLVE_MODAL),
        metadata: notAnId,
        text: hostileText(4).filter(storable),
      }),
      // Text PostgreSQL cannot store.
      fc.record({
        callback: fc.constantFrom(UPDATE_MODAL, RESOLVE_MODAL),
        metadata: fc.constant(null),
        text: unstorable,
      }),
      // Nothing said.
      fc.record({
        callback: fc.constantFrom(UPDATE_MODAL, RESOLVE_MODAL),
        metadata: fc.constant(null),
        text: blank,
      }),
    );
    const generated = samples(
      fc.record({
        kind: kinds,
        next: fc.option(
          hostileWord.filter((w) => !/^\d{1,4}$/.test(w.trim())),
          { nil: undefined },
        ),
      }),
      200,
    );
    for (const batch of batches(generated))
      await submitAll(
        batch.map(({ kind, next }) => {
          const metadata = kind.metadata ?? id;
          const fields: Record<string, ViewField> =
            kind.callback === UPDATE_MODAL
              ? { ...VALID_UPDATE, text: kind.text, ...(next !== undefined ? { next_update: next } : {}) }
              : { resolution: kind.text };
          return viewInput(bot, kind.callback, metadata, fields, {
            generated: true,
            label: `${kind.callback} ${label('metadata', metadata)} ${label('fields', fields)}`,
          });
        }),
      );
  });

  it('wrote nothing, posted nothing, and still answers /healthz', async () => {
    await hostile.expectNothingWrittenSinceBegin();
    await expectAlive(bot);
  });

  // The refusals above mean something only if a good submission to the same incident is taken.
  it('takes a good update submitted to the same incident', async () => {
    const answer = await viewProbe(hostile, UPDATE_MODAL, id, VALID_UPDATE, {
      outcome: 'accepted',
      label: 'a good update',
    });
    expect(answer.body).toBe('');
    const { rows } = await bot.app.pool.query(
      'SELECT count(*)::int AS n FROM timeline_entries WHERE incident_id = $1',
      [incident.id],
    );
    expect(rows[0].n).toBeGreaterThan(1);
  });
});
