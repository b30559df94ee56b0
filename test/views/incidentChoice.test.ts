import { describe, expect, it } from 'vitest';
import { validateBlocks } from '../../src/render/blockKit.js';
import { incidentChoiceMessage, readChoiceValue } from '../../src/views/incidentChoice.js';

const incidents = (n: number, title = 'Checkout is slow') =>
  Array.from({ length: n }, (_, i) => ({ id: 999_999_999 - i, severity: 'P1' as const, title }));
const input = { command: '/action', triggerId: '1.2.abc', actionId: 'action_for_incident', more: 0 };

describe('incidentChoiceMessage', () => {
  it('stays within Block Kit limits with twenty incidents, long titles full of markup and more left out', () => {
    const message = incidentChoiceMessage({
      ...input,
      text: `scale payments-api message=${'&lt;!channel&gt;`'.repeat(60)}`,
      incidents: incidents(20, '<!channel> & '.repeat(400)),
      more: 7,
    })!;
    expect(validateBlocks(message.blocks)).toEqual([]);
    const shown = JSON.stringify(message.blocks);
    expect(shown).not.toContain('<!channel>');
    expect(shown).toContain('7 older open incidents are not listed');
  });

  it('carries the command on each button, read back as it was written', () => {
    const message = incidentChoiceMessage({
      ...input,
      text: 'scale payments-api replicas=6',
      incidents: incidents(2),
    })!;
    const values = message.blocks.flatMap((b) =>
      b.accessory ? [(b.accessory as { value: string }).value] : [],
    );
    expect(values.map(readChoiceValue)).toEqual([
      { incident: 999_999_999, trigger: '1.2.abc', text: 'scale payments-api replicas=6' },
      { incident: 999_999_998, trigger: '1.2.abc', text: 'scale payments-api replicas=6' },
    ]);
  });

  it('gives up when the command is too long for a button to carry', () => {
    expect(
      incidentChoiceMessage({ ...input, text: 'x'.repeat(1950), incidents: incidents(2) }),
    ).toBeUndefined();
  });
});

describe('readChoiceValue', () => {
  it('reads nothing but the value it writes', () => {
    for (const raw of [
      undefined,
      '',
      'not json',
      '{"incident":0,"trigger":"t","text":""}',
      '{"incident":1.5,"trigger":"t","text":""}',
      '{"incident":1,"trigger":"a:b","text":""}',
      '{"incident":1,"trigger":"t","text":"","extra":1}',
      '{"incident":"1","trigger":"t","text":""}',
    ])
      expect(readChoiceValue(raw), String(raw)).toBeUndefined();
  });
});
