import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * The ids that say what a log line is about. Each HTTP request and each queue job runs in a context of
 * its own, and the logger adds the context's ids to every line written inside it, Bolt's and the
 * drivers' included, without a logger being handed down to each of them.
 */
export interface LogContext {
  requestId?: string;
  incidentId?: number;
  /** An Alertmanager delivery stored to be ingested (alert_deliveries). */
  deliveryId?: number;
  jobId?: string;
  queue?: string;
}

const storage = new AsyncLocalStorage<LogContext>();

/**
 * Runs `work` with these ids (and the enclosing context's) on every line it logs. `work` is given the
 * context itself, which gathers the ids added later, for a line written from outside it.
 */
export function withLogContext<T>(fields: LogContext, work: (context: LogContext) => T): T {
  const context = { ...storage.getStore(), ...fields };
  return storage.run(context, () => work(context));
}

/** Runs `work` in no context: work a request starts that outlives it is not about that request. */
export function outsideLogContext<T>(work: () => T): T {
  return storage.exit(work);
}

/** Adds ids learnt along the way (the incident a command names) to the current context. */
export function addLogContext(fields: LogContext): void {
  const store = storage.getStore();
  if (store) Object.assign(store, fields);
}

/** A copy of the current ids (pino merges each line's fields into what it is given). */
export function currentLogContext(): LogContext {
  return { ...storage.getStore() };
}
