import { describe, expect, it } from 'vitest';
import { addLogContext, currentLogContext, withLogContext } from '../../src/observability/logContext.js';
import { createLogger } from '../../src/observability/logger.js';

function capture() {
  const lines: string[] = [];
  const logger = createLogger('debug', [], { write: (line: string) => void lines.push(line) });
  return { logger, records: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>) };
}

describe('log context', () => {
  it('puts the ids of the context on every line written inside it, across awaits', async () => {
    const out = capture();
    await withLogContext({ requestId: 'r-1' }, async () => {
      out.logger.info('before');
      await new Promise((resolve) => setTimeout(resolve, 5));
      addLogContext({ incidentId: 7 });
      out.logger.info('after');
    });
    out.logger.info('outside');
    expect(out.records().map(({ msg, requestId, incidentId }) => ({ msg, requestId, incidentId }))).toEqual([
      { msg: 'before', requestId: 'r-1', incidentId: undefined },
      { msg: 'after', requestId: 'r-1', incidentId: 7 },
      { msg: 'outside', requestId: undefined, incidentId: undefined },
    ]);
  });

  it('keeps concurrent contexts apart, and a nested one adds to its parent without changing it', async () => {
    const out = capture();
    await Promise.all(
      ['a', 'b'].map((id) =>
        withLogContext({ requestId: id }, async () => {
          await new Promise((resolve) => setTimeout(resolve, id === 'a' ? 10 : 1));
          withLogContext({ jobId: `job-${id}`, queue: 'q' }, () => out.logger.info('inner'));
          out.logger.info('outer');
        }),
      ),
    );
    const lines = out.records().map(({ msg, requestId, jobId }) => `${msg}:${requestId}:${jobId ?? '-'}`);
    expect(lines.sort()).toEqual(['inner:a:job-a', 'inner:b:job-b', 'outer:a:-', 'outer:b:-']);
  });

  it("lets a line's own fields win, and writing a line leaves the context as it was", () => {
    const out = capture();
    withLogContext({ incidentId: 1 }, () => {
      out.logger.info({ incidentId: 2, extra: true }, 'own');
      expect(currentLogContext()).toEqual({ incidentId: 1 });
    });
    const [line] = out.records();
    expect(line).toMatchObject({ incidentId: 2, extra: true });
    expect(JSON.stringify(line).match(/incidentId/g)).toHaveLength(1);
  });

  it('ignores ids added outside any context', () => {
    addLogContext({ incidentId: 3 });
    expect(currentLogContext()).toEqual({});
  });
});
