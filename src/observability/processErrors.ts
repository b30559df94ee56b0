import type { Logger } from './logger.js';

/**
 * A promise rejected with nobody listening is a bug in one request or job, and Node's default (exit)
 * would drop every other request and job with it: it is logged instead. An exception thrown outside
 * any promise still ends the process, as the state it leaves is unknown.
 */
export function logUnhandledRejections(logger: Logger): void {
  process.on('unhandledRejection', (reason) => {
    logger.error({ err: reason }, 'unhandled promise rejection');
  });
}
