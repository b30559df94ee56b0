import { describe, expect, it, vi } from 'vitest';
import { collectGarbage } from '../../src/observability/memory.js';
import { startChild, stopChild } from '../support/childWorker.js';
import { waitFor } from '../support/services.js';
import { startTestBot } from '../support/testBot.js';

describe('memory after a full GC', () => {
  it('collectGarbage collects what nothing references any more', async () => {
    let held: object | undefined = { payload: 'x'.repeat(1_000_000) };
    const ref = new WeakRef(held);
    held = undefined;
    // A WeakRef keeps its target alive until the turn that made it is over.
    await new Promise((resolve) => setImmediate(resolve));
    await collectGarbage();
    expect(ref.deref()).toBeUndefined();
  });

  it('rejects, rather than throws, when the process may not open an inspector session', async () => {
    // As Node 20 refuses it under --experimental-permission: connect() throws ERR_ACCESS_DENIED.
    vi.resetModules();
    vi.doMock('node:inspector', () => ({
      Session: class {
        connect() {
          throw Object.assign(new Error('Access to this API has been restricted'), {
            code: 'ERR_ACCESS_DENIED',
          });
        }
      },
    }));
    try {
      const { collectGarbage: refused } = await import('../../src/observability/memory.js');
      // Before, it threw past the caller's .catch (main.ts), and `serve` exited.
      let collecting: Promise<void> | undefined;
      expect(() => {
        collecting = refused();
      }).not.toThrow();
      await expect(collecting).rejects.toMatchObject({ code: 'ERR_ACCESS_DENIED' });
    } finally {
      vi.doUnmock('node:inspector');
      vi.resetModules();
    }
  });

  it('`incident-bot serve` logs its memory after a full GC on SIGUSR2, and goes on answering', async () => {
    const bot = await startTestBot({ worker: false });
    const child = await startChild(bot, ['serve', '--no-worker']);
    try {
      child.process.kill('SIGUSR2');
      const line = await waitFor(
        () =>
          child
            .output()
            .split('\n')
            .find((l) => l.includes('memory after a full GC')),
        20_000,
        'the memory line',
      );
      const { memory } = JSON.parse(line);
      expect(memory.heapUsed).toBeGreaterThan(0);
      expect(memory.heapUsed).toBeLessThanOrEqual(memory.heapTotal);
      expect(memory.rss).toBeGreaterThan(memory.heapUsed);
      expect((await fetch(`http://127.0.0.1:${child.port}/healthz`)).status).toBe(200);
    } finally {
      await stopChild(child.process, 'SIGKILL');
      await bot.stop();
    }
  });
});
