import { describe, expect, it } from 'vitest';
import { TemplateSet } from '../../src/render/templates.js';
import { heartbeatGapView } from '../../src/views/heartbeat.js';

describe('heartbeat messages', () => {
  const since = new Date('2026-11-23T03:00:00Z');
  const gap = { alertname: 'Watchdog <!here> & <https://evil|x>', since, expectEveryMs: 600_000 };

  it('say how long, the way people do, in seconds only under a minute', () => {
    expect(heartbeatGapView({ ...gap, endedAt: null })).toEqual({
      alertname: gap.alertname,
      since,
      expectEvery: '10 min',
    });
    expect(
      heartbeatGapView({ ...gap, endedAt: new Date(since.getTime() + 3 * 3_600_000 + 5 * 60_000) }),
    ).toMatchObject({
      silentFor: '3 h 5 min',
    });
    expect(
      heartbeatGapView({ ...gap, expectEveryMs: 2000, endedAt: new Date(since.getTime() + 2500) }),
    ).toMatchObject({
      expectEvery: '2 s',
      silentFor: '3 s',
    });
  });

  it('show the alert name escaped, so that it pings nobody and links nowhere', async () => {
    const templates = await TemplateSet.load();
    const ended = { ...gap, endedAt: new Date(since.getTime() + 60 * 60_000) };
    for (const [name, view] of [
      ['heartbeat-missing', heartbeatGapView({ ...gap, endedAt: null })],
      ['heartbeat-back', heartbeatGapView(ended)],
    ] as const) {
      const text = JSON.stringify(templates.renderMessage(name, view));
      expect(text, name).toContain('Watchdog &lt;!here&gt; &amp; &lt;https://evil|x&gt;');
      expect(text, name).not.toContain('<!here>');
      expect(text, name).toContain(`<!date^${since.getTime() / 1000}^`);
    }
  });
});
