import { Session } from 'node:inspector';
import type { Logger } from './logger.js';

const MiB = 1024 * 1024;

export interface MemoryAfterGc {
  /** Resident set size, MiB. */
  rss: number;
  /** V8 heap in use after the collection, MiB: what the process holds on to. */
  heapUsed: number;
  heapTotal: number;
  external: number;
}

/**
 * A full garbage collection that also gives unused heap back to the system (V8's low-memory notification,
 * as DevTools' "collect garbage" button sends it), through an in-process inspector session: no
 * --expose-gc, no port opened. It stops the process for a few hundred ms.
 */
export function collectGarbage(): Promise<void> {
  return new Promise((resolve, reject) => {
    // In here, a session refused (ERR_ACCESS_DENIED under the permission model) rejects: callers .catch it.
    const session = new Session();
    session.connect();
    session.post('HeapProfiler.collectGarbage', (err) => {
      // Disconnecting inside the callback deadlocks Node 20: after it returns.
      setImmediate(() => {
        session.disconnect();
        if (err) reject(err);
        else resolve();
      });
    });
  });
}

export async function memoryAfterGc(): Promise<MemoryAfterGc> {
  await collectGarbage();
  const m = process.memoryUsage();
  const round = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;
  return {
    rss: round(m.rss),
    heapUsed: round(m.heapUsed),
    heapTotal: round(m.heapTotal),
    external: round(m.external),
  };
}

/** On SIGUSR2 (only the process's owner can send one): collect, and log what is left. The bench reads it. */
export function logMemoryOnSigusr2(logger: Logger): void {
  process.on('SIGUSR2', () => {
    memoryAfterGc().then(
      (memory) => logger.info({ memory }, 'memory after a full GC'),
      (err) => logger.warn({ err }, 'could not collect garbage'),
    );
  });
}
