import { describe, expect, it } from 'vitest';
import { validateBlocks } from '../../src/render/blockKit.js';
import { parseSilenceMatchers } from '../../src/silences/silences.js';
import {
  EXTEND_MODAL,
  extendModal,
  SILENCE_MODAL,
  type SilenceModalIncident,
  silenceModal,
} from '../../src/views/silenceModals.js';

const HOUR = 3_600_000;
const WEEK = 7 * 24 * HOUR;
const LONGEST_REF = 'INC-999999999';

function incident(overrides: Partial<SilenceModalIncident> = {}): SilenceModalIncident {
  return {
    id: 42,
    ref: 'INC-42',
    groupLabels: { alertname: 'HighLatency', service: 'payments-api' },
    proposed: {
      matchers: [
        { name: 'alertname', value: 'HighLatency' },
        { name: 'service', value: 'payments-api' },
      ],
      source: 'groupLabels',
    },
    ...overrides,
  };
}

type View = ReturnType<typeof silenceModal>;
const block = (view: { blocks: unknown[] }, id: string) =>
  view.blocks.find((b) => (b as { block_id?: string }).block_id === id) as {
    element: Record<string, never> & {
      options: Array<{ value: string; text: { text: string } }>;
      initial_option: { value: string };
      initial_value: string;
    };
    hint: { text: string };
    optional: boolean;
  };
const contextText = (view: View) =>
  (view.blocks.find((b) => b.type === 'context') as { elements: Array<{ text: string }> }).elements
    .map((e) => e.text)
    .join('\n');

describe('silenceModal', () => {
  it('passes the Block Kit modal checks, its title within 24 characters even for the longest ref', () => {
    for (const ref of ['INC-1', LONGEST_REF]) {
      const view = silenceModal(incident({ ref }), WEEK);
      expect(validateBlocks(view.blocks, 'modal')).toEqual([]);
      expect(view.title.text).toBe(`Silence ${ref}`);
    }
  });

  it('offers 1 h, 4 h, 24 h or custom, 1 h first, and says the cap on the custom field', () => {
    const view = silenceModal(incident(), WEEK);
    expect(view.callback_id).toBe(SILENCE_MODAL);
    expect(view.private_metadata).toBe('42');
    const duration = block(view, 'duration').element;
    expect(duration.options.map((o) => o.value)).toEqual(['1h', '4h', '24h', 'custom']);
    expect(duration.initial_option.value).toBe('1h');
    expect(block(view, 'custom_duration').hint.text).toContain('at most 7d');
    expect(block(view, 'custom_duration').optional).toBe(true);
    expect(block(view, 'reason').optional).toBe(false);
  });

  it('offers only the choices within silences.maxDuration', () => {
    const view = silenceModal(incident(), 6 * HOUR);
    const values = block(view, 'duration').element.options.map((o) => o.value);
    expect(values).toEqual(['1h', '4h', 'custom']);
    expect(block(view, 'custom_duration').hint.text).toContain('at most 6h');
  });

  it('shows the proposed matchers one per line, quoted as Alertmanager quotes them, and says whence', () => {
    const view = silenceModal(
      incident({
        proposed: {
          matchers: [
            { name: 'alertname', value: 'HighLatency' },
            { name: 'path', value: 'C:\\"quoted"' },
          ],
          source: 'groupLabels',
        },
      }),
      WEEK,
    );
    expect(block(view, 'matchers').element.initial_value).toBe(
      'alertname="HighLatency"\npath="C:\\\\\\"quoted\\""',
    );
    expect(contextText(view)).toContain("group's labels");
  });

  it('reads back, unedited, exactly the matchers it proposed, whatever the label values hold', () => {
    const proposed = [
      { name: 'alertname', value: 'BadInput' },
      // Before: the line break split the line, and the form silenced detail="x" and a made-up service.
      { name: 'detail', value: 'x\nservice="payments-api' },
      { name: 'path', value: 'C:\\new\\"quoted"\r\n\\n' },
    ];
    const view = silenceModal(
      incident({
        groupLabels: { alertname: 'BadInput' },
        proposed: { matchers: proposed, source: 'groupLabels' },
      }),
      WEEK,
    );
    const field = block(view, 'matchers').element.initial_value;
    expect(field.split('\n')).toHaveLength(3);
    expect(parseSilenceMatchers(field)).toEqual(proposed);
  });

  it('says when the matchers come from the common labels, and why', () => {
    const common = {
      matchers: [{ name: 'service', value: 'payments-api' }],
      source: 'commonLabels' as const,
    };
    const noGroupBy = silenceModal(incident({ groupLabels: {}, proposed: common }), WEEK);
    expect(contextText(noGroupBy)).toContain('your route has no `group_by`');
    const broad = silenceModal(incident({ groupLabels: { alertname: 'X' }, proposed: common }), WEEK);
    expect(contextText(broad)).toContain("the group's labels alone would silence this alert everywhere");
  });

  it('puts label values only in the plain-text field, never in mrkdwn, whatever they hold', () => {
    const hostile = '<!channel> <https://evil.example|click> & co';
    const view = silenceModal(
      incident({ proposed: { matchers: [{ name: 'summary', value: hostile }], source: 'groupLabels' } }),
      WEEK,
    );
    expect(block(view, 'matchers').element.initial_value).toBe(`summary="${hostile}"`);
    expect(JSON.stringify(view.blocks.filter((b) => b.type !== 'input'))).not.toContain('evil');
  });

  it('fits 64 long labels by whole lines within 3000 characters, and says how many were left out', () => {
    const matchers = Array.from({ length: 64 }, (_, i) => ({ name: `label_${i}`, value: 'v'.repeat(200) }));
    const view = silenceModal(incident({ proposed: { matchers, source: 'commonLabels' } }), WEEK);
    expect(validateBlocks(view.blocks, 'modal')).toEqual([]);
    const lines = block(view, 'matchers').element.initial_value.split('\n');
    expect(lines.join('\n').length).toBeLessThanOrEqual(3000);
    expect(lines.every((line) => line.endsWith('"'))).toBe(true);
    expect(contextText(view)).toContain(`${64 - lines.length} more labels did not fit`);
  });
});

describe('extendModal', () => {
  const silenced = {
    id: 7,
    ref: 'INC-7',
    silence: { endsAt: new Date('2026-05-01T12:00:00Z'), silencedBy: 'U0ALICE' },
  };

  it('offers +1 h, +4 h and +24 h, +1 h first, and says until when and by whom', () => {
    const view = extendModal(silenced, WEEK);
    expect(validateBlocks(view.blocks, 'modal')).toEqual([]);
    expect(view.callback_id).toBe(EXTEND_MODAL);
    expect(view.private_metadata).toBe('7');
    const duration = block(view, 'duration').element;
    expect(duration.options.map((o) => o.text.text)).toEqual(['+1 h', '+4 h', '+24 h']);
    expect(duration.initial_option.value).toBe('1h');
    const text = (view.blocks[0] as { text: { text: string } }).text.text;
    expect(text).toContain('<!date^1777636800^');
    expect(text).toContain('by <@U0ALICE>');
  });

  it('offers the maximum itself when it is under an hour, and escapes an author that is not an id', () => {
    const view = extendModal(
      { ...silenced, silence: { ...silenced.silence, silencedBy: '<!here>' } },
      1_800_000,
    );
    expect(validateBlocks(view.blocks, 'modal')).toEqual([]);
    expect(block(view, 'duration').element.options.map((o) => o.value)).toEqual(['30m']);
    expect((view.blocks[0] as { text: { text: string } }).text.text).toContain('by &lt;!here&gt;');
  });
});
