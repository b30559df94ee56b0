import { describe, expect, it } from 'vitest';
import { BLOCK_KIT_LIMITS, type Block, validateBlocks } from '../../src/render/blockKit.js';

const plain = (text: string) => ({ type: 'plain_text', text });
const mrkdwn = (text: string) => ({ type: 'mrkdwn', text });
const section = (text: string): Block => ({ type: 'section', text: mrkdwn(text) });
const button = (extra: Record<string, unknown> = {}) => ({
  type: 'button',
  text: plain('Acknowledge'),
  action_id: 'ack',
  ...extra,
});
const actions = (...elements: unknown[]): Block => ({ type: 'actions', elements });

/** A message using every supported block type, within every limit. */
const VALID: Block[] = [
  { type: 'header', text: { type: 'plain_text', text: '🔴 [P0] INC-1 · Checkout errors', emoji: true } },
  {
    type: 'section',
    block_id: 'summary',
    fields: [mrkdwn('*Status*\nFiring'), mrkdwn('*Severity*\nP0'), plain('plain field')],
  },
  { type: 'divider' },
  section('*CheckoutErrors* — error rate above 5%'),
  {
    type: 'context',
    elements: [mrkdwn('Started <!date^1767225600^{date_short_pretty}|2026-01-01 00:00 UTC>')],
  },
  actions(
    button({ style: 'primary', value: 'inc-1' }),
    button({ action_id: 'resolve', style: 'danger', url: 'https://example.com/inc/1' }),
    button({ action_id: 'details' }),
  ),
];

describe('validateBlocks', () => {
  it('accepts a valid message with []', () => {
    expect(validateBlocks(VALID)).toEqual([]);
    expect(validateBlocks([])).toEqual([]);
  });

  it('accepts every limit exactly at its maximum', () => {
    const atLimits: Block[] = [
      { type: 'header', text: plain('h'.repeat(150)) },
      section('s'.repeat(3000)),
      { type: 'section', fields: Array.from({ length: 10 }, () => mrkdwn('f'.repeat(2000))) },
      { type: 'context', elements: Array.from({ length: 10 }, () => mrkdwn('c')) },
      actions(button({ action_id: 'a'.repeat(255), text: plain('b'.repeat(75)), value: 'v'.repeat(2000) })),
      { type: 'divider', block_id: 'b'.repeat(255) },
    ];
    const blocks = [
      ...atLimits,
      ...Array.from({ length: 50 - atLimits.length }, () => ({ type: 'divider' })),
    ];
    expect(blocks).toHaveLength(BLOCK_KIT_LIMITS.blocks);
    expect(validateBlocks(blocks)).toEqual([]);
  });

  it('refuses something that is not an array', () => {
    expect(validateBlocks(undefined)).toEqual(['blocks: expected an array']);
    expect(validateBlocks({ type: 'divider' })).toEqual(['blocks: expected an array']);
  });

  describe('limits', () => {
    it('refuses 51 blocks', () => {
      const blocks = Array.from({ length: 51 }, () => ({ type: 'divider' }));
      expect(validateBlocks(blocks)).toEqual(['blocks: at most 50 blocks, got 51']);
    });

    it('refuses a header over 150 characters', () => {
      expect(validateBlocks([{ type: 'header', text: plain('h'.repeat(151)) }])).toEqual([
        'blocks[0].text.text: must be at most 150 characters, is 151',
      ]);
    });

    it('refuses a mrkdwn header, which Slack only takes as plain_text', () => {
      expect(validateBlocks([{ type: 'header', text: mrkdwn('title') }])).toEqual([
        'blocks[0].text.type: expected plain_text',
      ]);
    });

    it('refuses section text over 3000 characters', () => {
      expect(validateBlocks([section('s'.repeat(3001))])).toEqual([
        'blocks[0].text.text: must be at most 3000 characters, is 3001',
      ]);
    });

    it('refuses 11 fields, and none', () => {
      const fields = (n: number) => Array.from({ length: n }, () => mrkdwn('f'));
      expect(validateBlocks([{ type: 'section', fields: fields(11) }])).toEqual([
        'blocks[0].fields: expected 1 to 10 fields',
      ]);
      expect(validateBlocks([{ type: 'section', fields: [] }])).toEqual([
        'blocks[0].fields: expected 1 to 10 fields',
      ]);
    });

    it('refuses a field over 2000 characters, naming the field', () => {
      expect(validateBlocks([{ type: 'section', fields: [mrkdwn('ok'), mrkdwn('f'.repeat(2001))] }])).toEqual(
        ['blocks[0].fields[1].text: must be at most 2000 characters, is 2001'],
      );
    });

    it('refuses 11 context elements and context text over 3000 characters', () => {
      expect(
        validateBlocks([{ type: 'context', elements: Array.from({ length: 11 }, () => mrkdwn('c')) }]),
      ).toEqual(['blocks[0].elements: expected 1 to 10 elements']);
      expect(validateBlocks([{ type: 'context', elements: [mrkdwn('c'.repeat(3001))] }])).toEqual([
        'blocks[0].elements[0].text: must be at most 3000 characters, is 3001',
      ]);
    });

    it('refuses 26 buttons and an empty actions block', () => {
      expect(validateBlocks([actions(...Array.from({ length: 26 }, () => button()))])).toEqual([
        'blocks[0].elements: expected 1 to 25 elements',
      ]);
      expect(validateBlocks([actions()])).toEqual(['blocks[0].elements: expected 1 to 25 elements']);
    });

    it('refuses a block_id over 255 characters', () => {
      expect(validateBlocks([{ type: 'divider', block_id: 'b'.repeat(256) }])).toEqual([
        'blocks[0].block_id: expected at most 255 characters',
      ]);
    });
  });

  describe('text objects', () => {
    it('refuse empty text', () => {
      expect(validateBlocks([section('')])).toEqual(['blocks[0].text.text: must not be empty']);
      expect(validateBlocks([{ type: 'header', text: plain('') }])).toEqual([
        'blocks[0].text.text: must not be empty',
      ]);
    });

    it('refuse a missing or malformed text object', () => {
      expect(validateBlocks([{ type: 'header' }])).toEqual(['blocks[0].text: expected a text object']);
      expect(validateBlocks([{ type: 'section', text: 'bare string' }])).toEqual([
        'blocks[0].text: expected a text object',
      ]);
      expect(validateBlocks([{ type: 'section', text: { type: 'mrkdwn' } }])).toEqual([
        'blocks[0].text: expected a text object',
      ]);
    });

    it('refuse an unknown text type', () => {
      expect(validateBlocks([{ type: 'section', text: { type: 'markdown', text: 'x' } }])).toEqual([
        'blocks[0].text.type: expected plain_text or mrkdwn',
      ]);
    });

    it('require a section to have text or fields', () => {
      expect(validateBlocks([{ type: 'section' }])).toEqual(['blocks[0]: needs text or fields']);
    });
  });

  describe('blocks themselves', () => {
    it('refuse an unknown block type, quoting it', () => {
      expect(validateBlocks([{ type: 'image' }, { type: 'rich_text' }])).toEqual([
        'blocks[0].type: unsupported block type "image"',
        'blocks[1].type: unsupported block type "rich_text"',
      ]);
      expect(validateBlocks([{}])).toEqual(['blocks[0].type: unsupported block type undefined']);
    });

    it('refuse a block that is not an object', () => {
      expect(validateBlocks([null, 'divider'])).toEqual([
        'blocks[0]: expected an object',
        'blocks[1]: expected an object',
      ]);
    });

    it('report every problem with the index of its block', () => {
      expect(
        validateBlocks([...VALID, section(''), { type: 'header', text: plain('h'.repeat(200)) }]),
      ).toEqual([
        'blocks[6].text.text: must not be empty',
        'blocks[7].text.text: must be at most 150 characters, is 200',
      ]);
    });
  });

  describe('buttons', () => {
    it('accept primary and danger styles and no style', () => {
      expect(
        validateBlocks([actions(button({ style: 'primary' }), button({ style: 'danger' }), button())]),
      ).toEqual([]);
    });

    it('hold a confirm dialog to its limits: title 100, text 300, its buttons 30', () => {
      const text = (n: number) => ({ type: 'plain_text', text: 'c'.repeat(n) });
      const confirm = (title: number, body: number, yes: number) => ({
        confirm: { title: text(title), text: text(body), confirm: text(yes), deny: text(4) },
      });
      expect(validateBlocks([actions(button(confirm(100, 300, 30)))])).toEqual([]);
      expect(validateBlocks([actions(button(confirm(101, 301, 31)), button({ confirm: {} }))])).toEqual([
        'blocks[0].elements[0].confirm.title.text: must be at most 100 characters, is 101',
        'blocks[0].elements[0].confirm.text.text: must be at most 300 characters, is 301',
        'blocks[0].elements[0].confirm.confirm.text: must be at most 30 characters, is 31',
        'blocks[0].elements[1].confirm.title: expected a text object',
        'blocks[0].elements[1].confirm.text: expected a text object',
        'blocks[0].elements[1].confirm.confirm: expected a text object',
        'blocks[0].elements[1].confirm.deny: expected a text object',
      ]);
    });

    it('refuse any other style', () => {
      expect(validateBlocks([actions(button({ style: 'default' }), button({ style: 'Primary' }))])).toEqual([
        'blocks[0].elements[0].style: expected primary or danger',
        'blocks[0].elements[1].style: expected primary or danger',
      ]);
    });

    it('require an action_id of 1 to 255 characters', () => {
      expect(
        validateBlocks([
          actions(
            button({ action_id: 'a'.repeat(256) }),
            button({ action_id: '' }),
            button({ action_id: undefined }),
            button({ action_id: 42 }),
          ),
        ]),
      ).toEqual([
        'blocks[0].elements[0].action_id: expected 1 to 255 characters',
        'blocks[0].elements[1].action_id: expected 1 to 255 characters',
        'blocks[0].elements[2].action_id: expected 1 to 255 characters',
        'blocks[0].elements[3].action_id: expected 1 to 255 characters',
      ]);
    });

    it('limit text, value and url, and take only plain_text labels', () => {
      expect(
        validateBlocks([
          actions(
            button({ text: plain('b'.repeat(76)) }),
            button({ value: 'v'.repeat(2001) }),
            button({ url: `https://example.com/${'u'.repeat(3000)}` }),
            button({ text: mrkdwn('*Ack*') }),
          ),
        ]),
      ).toEqual([
        'blocks[0].elements[0].text.text: must be at most 75 characters, is 76',
        'blocks[0].elements[1].value: expected at most 2000 characters',
        'blocks[0].elements[2].url: expected at most 3000 characters',
        'blocks[0].elements[3].text.type: expected plain_text',
      ]);
    });

    it("hold a section's accessory button to the same limits, and take no other accessory", () => {
      expect(
        validateBlocks([{ ...section('INC-1'), accessory: button({ value: 'v'.repeat(2000) }) }]),
      ).toEqual([]);
      expect(
        validateBlocks([
          { ...section('INC-1'), accessory: button({ value: 'v'.repeat(2001), action_id: '' }) },
          { ...section('INC-2'), accessory: { type: 'image', image_url: 'https://example.com/x.png' } },
        ]),
      ).toEqual([
        'blocks[0].accessory.action_id: expected 1 to 255 characters',
        'blocks[0].accessory.value: expected at most 2000 characters',
        'blocks[1].accessory.type: only buttons are used',
      ]);
    });

    it('refuse elements other than buttons', () => {
      expect(validateBlocks([actions({ type: 'static_select', action_id: 'pick' }, null)])).toEqual([
        'blocks[0].elements[0].type: only buttons are used',
        'blocks[0].elements[1].type: only buttons are used',
      ]);
    });
  });
});

describe('input blocks', () => {
  const input = (element: Record<string, unknown>, extra: Record<string, unknown> = {}): Block => ({
    type: 'input',
    label: plain('Summary'),
    element,
    ...extra,
  });
  const option = (value: string, text = value) => ({ text: plain(text), value });

  it('accept every element the modals use, with hint, optional and block_id', () => {
    expect(
      validateBlocks([
        input(
          {
            type: 'plain_text_input',
            action_id: 'summary',
            multiline: true,
            min_length: 0,
            max_length: 3000,
            initial_value: 'Checkout errors',
            placeholder: plain('What happened?'),
          },
          { block_id: 'summary', hint: plain('One line'), optional: true },
        ),
        input({
          type: 'static_select',
          placeholder: plain('Severity'),
          options: [option('P0'), option('P1')],
        }),
        input({
          type: 'static_select',
          option_groups: [{ label: plain('Urgent'), options: [option('P0')] }],
        }),
        input({ type: 'datetimepicker', action_id: 'started', initial_date_time: 1767225600 }),
        input({ type: 'number_input', is_decimal_allowed: false, min_value: '1', max_value: '10' }),
        input({ type: 'number_input', is_decimal_allowed: true, initial_value: '-0.5' }),
      ]),
    ).toEqual([]);
  });

  it('accept every input limit exactly at its maximum', () => {
    expect(
      validateBlocks([
        input(
          { type: 'plain_text_input', action_id: 'a'.repeat(255), placeholder: plain('p'.repeat(150)) },
          { label: plain('l'.repeat(2000)), hint: plain('h'.repeat(2000)) },
        ),
        input({
          type: 'static_select',
          options: Array.from({ length: 100 }, (_, i) => option(`${i}`.padEnd(150, 'v'), 't'.repeat(75))),
        }),
      ]),
    ).toEqual([]);
  });

  it('refuse a label or hint over 2000 characters, missing or not plain_text', () => {
    const element = { type: 'plain_text_input' };
    expect(
      validateBlocks([
        input(element, { label: plain('l'.repeat(2001)) }),
        input(element, { label: mrkdwn('*Summary*') }),
        input(element, { label: undefined }),
        input(element, { hint: plain('h'.repeat(2001)) }),
        input(element, { optional: 'yes' }),
      ]),
    ).toEqual([
      'blocks[0].label.text: must be at most 2000 characters, is 2001',
      'blocks[1].label.type: expected plain_text',
      'blocks[2].label: expected a text object',
      'blocks[3].hint.text: must be at most 2000 characters, is 2001',
      'blocks[4].optional: expected a boolean',
    ]);
  });

  it('refuse a missing or unknown element, a bad action_id and a long placeholder', () => {
    expect(
      validateBlocks([
        input(undefined as never),
        input({ type: 'radio_buttons' }),
        input({ type: 'plain_text_input', action_id: 'a'.repeat(256) }),
        input({ type: 'plain_text_input', action_id: '' }),
        input({ type: 'plain_text_input', placeholder: plain('p'.repeat(151)) }),
      ]),
    ).toEqual([
      'blocks[0].element: expected an element',
      'blocks[1].element.type: unsupported element type "radio_buttons"',
      'blocks[2].element.action_id: expected 1 to 255 characters',
      'blocks[3].element.action_id: expected 1 to 255 characters',
      'blocks[4].element.placeholder.text: must be at most 150 characters, is 151',
    ]);
  });

  it('hold a plain_text_input to lengths from 0 and 1 up to 3000, min not above max', () => {
    expect(
      validateBlocks([
        input({ type: 'plain_text_input', min_length: -1, max_length: 0 }),
        input({ type: 'plain_text_input', min_length: 3001, max_length: 3001 }),
        input({ type: 'plain_text_input', min_length: 10, max_length: 5 }),
        input({ type: 'plain_text_input', initial_value: 42, multiline: 'no' }),
      ]),
    ).toEqual([
      'blocks[0].element.min_length: expected an integer from 0 to 3000',
      'blocks[0].element.max_length: expected an integer from 1 to 3000',
      'blocks[1].element.min_length: expected an integer from 0 to 3000',
      'blocks[1].element.max_length: expected an integer from 1 to 3000',
      'blocks[2].element.min_length: must not exceed max_length',
      'blocks[3].element.initial_value: expected a string',
      'blocks[3].element.multiline: expected a boolean',
    ]);
  });

  it('hold checkboxes to 1 to 10 options, mrkdwn allowed, checked at first only among them', () => {
    const mrkdwn = { text: { type: 'mrkdwn', text: '*a*' }, value: 'a' };
    expect(
      validateBlocks([
        input({ type: 'checkboxes', options: [mrkdwn], initial_options: [mrkdwn] }),
        input({ type: 'checkboxes' }),
        input({ type: 'checkboxes', options: Array.from({ length: 11 }, () => option('a')) }),
        input({ type: 'checkboxes', options: [option('a')], initial_options: [option('b')] }),
      ]),
    ).toEqual([
      'blocks[1].element.options: expected 1 to 10 options',
      'blocks[2].element.options: expected 1 to 10 options',
      'blocks[3].element.initial_options: expected some of the options',
    ]);
  });

  it('need a static_select to have options or option_groups, within their limits', () => {
    expect(
      validateBlocks([
        input({ type: 'static_select' }),
        input({ type: 'static_select', options: [option('a')], option_groups: [] }),
        input({ type: 'static_select', options: Array.from({ length: 101 }, () => option('a')) }),
        input({
          type: 'static_select',
          options: [
            option('a', 't'.repeat(76)),
            option('v'.repeat(151), 'v'),
            option('', 'e'),
            { text: mrkdwn('m'), value: 'm' },
          ],
        }),
        input({ type: 'static_select', option_groups: [] }),
        input({ type: 'static_select', option_groups: [{ label: plain('Empty'), options: [] }] }),
      ]),
    ).toEqual([
      'blocks[0].element: needs either options or option_groups',
      'blocks[1].element: needs either options or option_groups',
      'blocks[2].element.options: expected 1 to 100 options',
      'blocks[3].element.options[0].text.text: must be at most 75 characters, is 76',
      'blocks[3].element.options[1].value: expected 1 to 150 characters',
      'blocks[3].element.options[2].value: expected 1 to 150 characters',
      'blocks[3].element.options[3].text.type: expected plain_text',
      'blocks[4].element.option_groups: expected 1 to 100 groups',
      'blocks[5].element.option_groups[0].options: expected 1 to 100 options',
    ]);
  });

  it('need a number_input to say whether decimals are allowed, and take numbers as strings', () => {
    expect(
      validateBlocks([
        input({ type: 'number_input' }),
        input({ type: 'number_input', is_decimal_allowed: false, initial_value: '1.5' }),
        input({ type: 'number_input', is_decimal_allowed: true, min_value: 1 }),
        input({ type: 'number_input', is_decimal_allowed: false, min_value: '10', max_value: '2' }),
      ]),
    ).toEqual([
      'blocks[0].element.is_decimal_allowed: expected a boolean',
      'blocks[1].element.initial_value: expected an integer in a string',
      'blocks[2].element.min_value: expected a number in a string',
      'blocks[3].element.min_value: must not exceed max_value',
    ]);
  });

  it('need a datetimepicker initial_date_time in whole Unix seconds', () => {
    expect(
      validateBlocks([
        input({ type: 'datetimepicker', initial_date_time: '2026-01-01T00:00:00Z' }),
        input({ type: 'datetimepicker', initial_date_time: 1.5 }),
      ]),
    ).toEqual([
      `blocks[0].element.initial_date_time: expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}`,
      `blocks[1].element.initial_date_time: expected an integer from 0 to ${Number.MAX_SAFE_INTEGER}`,
    ]);
  });
});

describe('surfaces', () => {
  const dividers = (n: number) => Array.from({ length: n }, () => ({ type: 'divider' }));

  it('let a modal have 100 blocks and no more', () => {
    expect(validateBlocks(dividers(BLOCK_KIT_LIMITS.modalBlocks), 'modal')).toEqual([]);
    expect(validateBlocks(dividers(101), 'modal')).toEqual(['blocks: at most 100 blocks, got 101']);
  });

  it('keep a message to 50 blocks, the default surface', () => {
    expect(validateBlocks(dividers(51), 'message')).toEqual(['blocks: at most 50 blocks, got 51']);
    expect(validateBlocks(dividers(51))).toEqual(validateBlocks(dividers(51), 'message'));
  });
});
