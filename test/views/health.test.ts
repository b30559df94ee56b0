import { beforeAll, describe, expect, it } from 'vitest';
import { BLOCK_KIT_LIMITS } from '../../src/render/blockKit.js';
import { TemplateSet } from '../../src/render/templates.js';
import {
  type CheckResult,
  healthNotShownText,
  healthView,
  type ServiceHealth,
} from '../../src/views/health.js';

const check = (status: CheckResult['status']): CheckResult => ({
  name: 'port',
  kind: 'tcp',
  status,
  latencyMs: 3,
  detail: status === 'ok' ? 'connected' : 'refused',
  facts: [],
});
const service = (name: string, ...statuses: CheckResult['status'][]) => {
  const status: ServiceHealth['status'] = statuses.includes('fail')
    ? 'fail'
    : statuses.includes('warn')
      ? 'warn'
      : 'ok';
  return { service: name, result: { status, results: statuses.map(check) } };
};

/** /health with no service runs every service's checks: a large config has more than a message holds. */
describe('a health check result', () => {
  let templates: TemplateSet;
  beforeAll(async () => {
    templates = await TemplateSet.load();
  });
  const render = (health: ReturnType<typeof service>[]) => {
    const message = templates.renderMessage('health-result', {
      ...healthView({ user: 'U0ALICE' }, health),
      askerOnly: true,
    });
    return { blocks: message.blocks, text: JSON.stringify(message.blocks), fallback: message.text };
  };

  it('shows every service when they fit', () => {
    const { blocks, text, fallback } = render(
      Array.from({ length: 10 }, (_, i) => service(`svc-${i}`, 'ok')),
    );
    // The first line, the one only who asked sees, and a check each.
    expect(blocks).toHaveLength(12);
    for (let i = 0; i < 10; i++) expect(text).toContain(`*svc-${i}*`);
    expect(text).not.toContain('more service');
    expect(fallback).not.toContain('more service');
  });

  it('counts the healthy services a message cannot hold, never a failing one, and points at /health <service>', () => {
    const health = [
      ...Array.from({ length: 60 }, (_, i) => service(`svc-${i}`, 'ok')),
      service('payments-api', 'fail', 'ok'),
      service('checkout', 'warn'),
      service('search'),
    ];
    const { blocks, text, fallback } = render(health);
    expect(blocks.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.blocks);
    // What a notification, or a reader of the text alone, is told: the services left out counted too.
    expect(fallback).toMatch(/, ⚠️ checkout, …and 17 more services \(17 ✅\)$/);
    // 47 blocks for services: the failing and warning first (3), then 44 of the rest, in the order they ran.
    const first = (blocks[0]!.text as { text: string }).text;
    expect(first).toMatch(/✅ \*svc-43\*, ❌ \*payments-api\*, ⚠️ \*checkout\*$/);
    expect(text).not.toContain('svc-44');
    expect(text).toContain(
      '…and 17 more services: 17 ✅ (a message holds no more; `/health <service>` shows one)',
    );
    const leftOutFailing = render([...health.slice(0, 60), service('late', 'fail')]).text;
    expect(leftOutFailing).toContain('❌ *late*');
  });

  it('keeps room for a cut service’s "…and N more checks" line when services are left out', () => {
    const { blocks, text } = render([
      ...Array.from({ length: 10 }, (_, i) => service(`empty-${i}`)),
      service('many', ...Array.from({ length: 41 }, () => 'ok' as const)),
      service('last', 'ok'),
    ]);
    // The first line, the asker's, 10 "no checks", 36 checks and their "…and 5 more checks", the count.
    expect(blocks).toHaveLength(50);
    expect(text).toContain('…and 5 more checks');
    expect(text).toContain('…and 1 more service: 1 ✅');
  });

  it('cuts checks past 40, each cut service saying how many more', () => {
    const { blocks, text } = render([
      service('first', ...Array.from({ length: 30 }, () => 'ok' as const)),
      service('second', ...Array.from({ length: 30 }, () => 'fail' as const)),
      service('third', 'ok'),
    ]);
    expect(blocks.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.blocks);
    // 30 of first, 10 of second (40 checks in all), its line; third's line says it has one more check.
    expect(text).toContain('…and 20 more checks');
    expect(text).toContain('…and 1 more check"');
    expect(text).not.toContain('more service');
  });

  it('leaves out the services whose names would not fit in the first line', () => {
    const { blocks, text } = render(Array.from({ length: 47 }, (_, i) => service(`${'x'.repeat(60)}-${i}`)));
    expect(blocks.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.blocks);
    expect((blocks[0]!.text as { text: string }).text.length).toBeLessThanOrEqual(
      BLOCK_KIT_LIMITS.sectionText,
    );
    expect(text).toMatch(/…and \d+ more services: \d+ ✅/);
  });
});

describe('the text telling who asked that their result is given up', () => {
  it('shows the error on one line, escaped and cut short, so that it can neither ping nor link', () => {
    const text = healthNotShownText(['<!channel>'], `boom <https://evil|click>\n${'x'.repeat(2000)}`);
    expect(text).toContain('(&lt;!channel&gt;)');
    expect(text).toContain('boom &lt;https://evil|click&gt;\\nxxx');
    expect(text).not.toMatch(/[<>\n]/);
    expect(text.length).toBeLessThan(1000);
  });
});
