import { Writable } from 'node:stream';
import { createLogger, type Logger } from '../../src/observability/logger.js';

/** A logger at `level` whose lines are parsed into `lines`, for tests that read what was logged. */
export function recordingLogger<Line>(level: string): { logger: Logger; lines: Line[] } {
  const lines: Line[] = [];
  const logger = createLogger(
    level,
    [],
    new Writable({
      write(chunk, _encoding, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    }),
  );
  return { logger, lines };
}
