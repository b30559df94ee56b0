import { describe, expect, it } from 'vitest';
import { validateBlocks } from '../../src/render/blockKit.js';
import {
  RESOLVE_MODAL,
  readIncidentId,
  readResolveSubmission,
  readUpdateSubmission,
  resolveModal,
  UPDATE_MODAL,
  type UpdateModalIncident,
  updateModal,
} from '../../src/views/modals.js';

type Values = Parameters<typeof readUpdateSubmission>[0];

const LONGEST_REF = 'INC-999999999';

function incident(overrides: Partial<UpdateModalIncident> = {}): UpdateModalIncident {
  return {
    id: 42,
    ref: 'INC-42',
    status: 'identified',
    impact: null,
    affected: null,
    eta: null,
    ...overrides,
  };
}

/** Form state as Slack sends it in view_submission: block id → action id → value. */
function updateValues(
  fields: { status?: string | null } & Record<string, string | null | undefined>,
): Values {
  const values: Values = {};
  for (const [block, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    values[block] =
      block === 'status'
        ? { value: { selected_option: value === null ? null : { value } } }
        : { value: { value } };
  }
  return values;
}

function blockIds(view: { blocks: unknown[] }): unknown[] {
  return view.blocks.map((b) => (b as { block_id?: string }).block_id);
}

describe('updateModal', () => {
  it('passes the Block Kit modal checks', () => {
    expect(validateBlocks(updateModal(incident()).blocks, 'modal')).toEqual([]);
  });

  it('passes the checks with the longest ref and over-long initial values', () => {
    const view = updateModal(
      incident({
        id: 999_999_999,
        ref: LONGEST_REF,
        impact: 'i'.repeat(800),
        affected: 'a'.repeat(800),
        eta: 'e'.repeat(400),
      }),
    );
    expect(validateBlocks(view.blocks, 'modal')).toEqual([]);
    expect(view.title.text.length).toBeLessThanOrEqual(24);
    expect(view.title).toEqual({ type: 'plain_text', text: 'Update INC-999999999' });
    const initial = (blockId: string) =>
      (view.blocks.find((b) => b.block_id === blockId) as { element: { initial_value?: string } }).element
        .initial_value;
    expect(initial('impact')).toBe('i'.repeat(500));
    expect(initial('affected')).toBe('a'.repeat(500));
    expect(initial('eta')).toBe('e'.repeat(150));
  });

  it('carries the incident id, the callback id and the fields in order', () => {
    const view = updateModal(incident());
    expect(view.type).toBe('modal');
    expect(view.callback_id).toBe(UPDATE_MODAL);
    expect(view.private_metadata).toBe('42');
    expect(view.title).toEqual({ type: 'plain_text', text: 'Update INC-42' });
    expect(view.submit).toEqual({ type: 'plain_text', text: 'Post update' });
    expect(view.close).toEqual({ type: 'plain_text', text: 'Cancel' });
    expect(blockIds(view)).toEqual(['status', 'text', 'impact', 'affected', 'eta', 'next_update']);
  });

  it('preselects the current status and offers the three statuses', () => {
    const select = updateModal(incident()).blocks[0]!.element as Record<string, unknown>;
    expect(select.options).toEqual([
      { text: { type: 'plain_text', text: 'Investigating' }, value: 'investigating' },
      { text: { type: 'plain_text', text: 'Identified' }, value: 'identified' },
      { text: { type: 'plain_text', text: 'Monitoring' }, value: 'monitoring' },
    ]);
    expect(select.initial_option).toEqual({
      text: { type: 'plain_text', text: 'Identified' },
      value: 'identified',
    });
  });

  it('preselects nothing for a status not in the list', () => {
    const view = updateModal(incident({ status: 'resolved' }));
    expect(view.blocks[0]!.element).not.toHaveProperty('initial_option');
    expect(validateBlocks(view.blocks, 'modal')).toEqual([]);
  });

  it('fills in the current impact, affected and ETA', () => {
    const view = updateModal(incident({ impact: 'checkout fails', affected: 'EU', eta: '15:00 UTC' }));
    const initial = view.blocks
      .slice(2, 5)
      .map((b) => (b.element as { initial_value?: string }).initial_value);
    expect(initial).toEqual(['checkout fails', 'EU', '15:00 UTC']);
  });
});

describe('resolveModal', () => {
  it('passes the Block Kit modal checks with a title within 24 characters, even for the longest ref', () => {
    for (const ref of ['INC-1', 'INC-42', LONGEST_REF]) {
      const view = resolveModal({ id: 1, ref });
      expect(validateBlocks(view.blocks, 'modal')).toEqual([]);
      expect(view.title.text.length).toBeLessThanOrEqual(24);
      expect(view.title.text).toBe(`Resolve ${ref}`);
    }
  });

  it('offers an incident still silenced to expire its silence, checked at first', () => {
    const view = resolveModal({ id: 7, ref: 'INC-7', silence: { endsAt: new Date('2026-05-01T12:00:00Z') } });
    expect(validateBlocks(view.blocks, 'modal')).toEqual([]);
    expect(blockIds(view)).toEqual(['resolution', 'silence']);
    const { element } = view.blocks[1] as {
      element: {
        type: string;
        options: Array<{ text: { text: string }; description: { text: string } }>;
        initial_options: unknown;
      };
    };
    expect(element.type).toBe('checkboxes');
    expect(element.options[0]!.text.text).toBe('Expire the silence too');
    expect(element.options[0]!.description.text).toMatch(/^until <!date\^1777636800\^/);
    expect(element.initial_options).toEqual(element.options);
  });

  it('carries the incident id and one resolution field', () => {
    const view = resolveModal({ id: 7, ref: 'INC-7' });
    expect(view.callback_id).toBe(RESOLVE_MODAL);
    expect(view.private_metadata).toBe('7');
    expect(view.submit).toEqual({ type: 'plain_text', text: 'Resolve' });
    expect(blockIds(view)).toEqual(['resolution']);
  });
});

describe('readUpdateSubmission', () => {
  it('accepts every field, trims text and turns minutes into milliseconds', () => {
    const values = updateValues({
      status: 'monitoring',
      text: '  fix deployed, watching error rate \n',
      impact: ' checkout slow ',
      affected: 'EU customers',
      eta: '30 minutes',
      next_update: ' 15 ',
    });
    expect(readUpdateSubmission(values)).toEqual({
      ok: true,
      input: {
        status: 'monitoring',
        text: 'fix deployed, watching error rate',
        impact: 'checkout slow',
        affected: 'EU customers',
        eta: '30 minutes',
        nextUpdateInMs: 900_000,
      },
    });
  });

  it('accepts text alone, leaving out empty and blank optional fields', () => {
    const values = updateValues({
      status: null,
      text: 'still looking',
      impact: '',
      affected: '   ',
      eta: null,
    });
    expect(readUpdateSubmission(values)).toEqual({ ok: true, input: { text: 'still looking' } });
  });

  it('accepts each status from the list', () => {
    for (const status of ['investigating', 'identified', 'monitoring']) {
      expect(readUpdateSubmission(updateValues({ status, text: 'x' }))).toEqual({
        ok: true,
        input: { status, text: 'x' },
      });
    }
  });

  it.each([
    ['1', 60_000],
    ['1440', 86_400_000],
    ['0030', 1_800_000],
  ])('accepts next_update %j minutes', (next, ms) => {
    expect(readUpdateSubmission(updateValues({ text: 'x', next_update: next }))).toEqual({
      ok: true,
      input: { text: 'x', nextUpdateInMs: ms },
    });
  });

  it('accepts text of exactly 3000 characters and an impact of exactly 500', () => {
    const values = updateValues({ text: 't'.repeat(3000), impact: 'i'.repeat(500), eta: 'e'.repeat(150) });
    expect(readUpdateSubmission(values)).toEqual({
      ok: true,
      input: { text: 't'.repeat(3000), impact: 'i'.repeat(500), eta: 'e'.repeat(150) },
    });
  });

  it.each([undefined, '', '   \n '])('refuses missing text (%j) under the text block', (text) => {
    expect(readUpdateSubmission(updateValues({ status: 'identified', text }))).toEqual({
      ok: false,
      errors: { text: 'Say what changed.' },
    });
  });

  it('refuses text over 3000 characters', () => {
    expect(readUpdateSubmission(updateValues({ text: 't'.repeat(3001) }))).toEqual({
      ok: false,
      errors: { text: 'Keep it under 3000 characters.' },
    });
  });

  it.each(['0', '1441', 'abc', '1.5', '-5', '15m', '99999'])('refuses next_update %j', (next) => {
    expect(readUpdateSubmission(updateValues({ text: 'x', next_update: next }))).toEqual({
      ok: false,
      errors: { next_update: 'A whole number of minutes from 1 to 1440.' },
    });
  });

  it('refuses impact and affected over 500 characters and eta over 150', () => {
    const values = updateValues({
      text: 'x',
      impact: 'i'.repeat(501),
      affected: 'a'.repeat(501),
      eta: 'e'.repeat(151),
    });
    expect(readUpdateSubmission(values)).toEqual({
      ok: false,
      errors: {
        impact: 'Keep it under 500 characters.',
        affected: 'Keep it under 500 characters.',
        eta: 'Keep it under 150 characters.',
      },
    });
  });

  it.each(['resolved', '', 'Investigating'])('refuses a forged status %j not in the list', (status) => {
    expect(readUpdateSubmission(updateValues({ status, text: 'x' }))).toEqual({
      ok: false,
      errors: { status: 'Pick a status from the list.' },
    });
  });

  it('reports every bad field at once', () => {
    const values = updateValues({ status: 'closed', impact: 'i'.repeat(501), next_update: '0' });
    expect(readUpdateSubmission(values)).toEqual({
      ok: false,
      errors: {
        status: 'Pick a status from the list.',
        text: 'Say what changed.',
        next_update: 'A whole number of minutes from 1 to 1440.',
        impact: 'Keep it under 500 characters.',
      },
    });
  });

  it('treats an empty form as missing text only', () => {
    expect(readUpdateSubmission({})).toEqual({ ok: false, errors: { text: 'Say what changed.' } });
  });
});

describe('readResolveSubmission', () => {
  const values = (resolution: string | null | undefined): Values =>
    resolution === undefined ? {} : { resolution: { value: { value: resolution } } };

  it('accepts and trims the resolution', () => {
    expect(readResolveSubmission(values('  rolled back v1.2.3 \n'))).toEqual({
      ok: true,
      input: { resolution: 'rolled back v1.2.3' },
    });
  });

  it('reads whether the silence is to be expired', () => {
    const checked = (options: Array<{ value: string }> | null): Values => ({
      ...values('fixed'),
      silence: { value: { selected_options: options } },
    });
    expect(readResolveSubmission(checked([{ value: 'expire' }]))).toEqual({
      ok: true,
      input: { resolution: 'fixed', expireSilence: true },
    });
    for (const none of [[], null, [{ value: 'other' }]]) {
      expect(readResolveSubmission(checked(none))).toEqual({ ok: true, input: { resolution: 'fixed' } });
    }
  });

  it('accepts exactly 3000 characters', () => {
    expect(readResolveSubmission(values('r'.repeat(3000)))).toEqual({
      ok: true,
      input: { resolution: 'r'.repeat(3000) },
    });
  });

  it.each([undefined, null, '', '   '])('refuses a missing resolution (%j)', (resolution) => {
    expect(readResolveSubmission(values(resolution))).toEqual({
      ok: false,
      errors: { resolution: 'Say how it was resolved.' },
    });
  });

  it('refuses a resolution over 3000 characters', () => {
    expect(readResolveSubmission(values('r'.repeat(3001)))).toEqual({
      ok: false,
      errors: { resolution: 'Keep it under 3000 characters.' },
    });
  });
});

describe('readIncidentId', () => {
  it('reads a decimal id', () => {
    expect(readIncidentId('42')).toBe(42);
    expect(readIncidentId('999999999')).toBe(999_999_999);
  });

  it.each(['', '-1', '4.2', '1e3', '0x10', ' 42', '42 ', '+42', 'INC-42', '1234567890', '9999999999'])(
    'refuses %j',
    (raw) => {
      expect(readIncidentId(raw)).toBeUndefined();
    },
  );

  it.each([42, 0, Number.NaN, null, undefined, true, {}, { id: '42' }, ['42']])(
    'refuses the non-string %j',
    (raw) => {
      expect(readIncidentId(raw)).toBeUndefined();
    },
  );
});
