/** `promise`, or a rejection once `ms` have passed without it settling (it is not cancelled). */
export function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * `promise`'s value, or undefined once `ms` have passed without it settling (it is not cancelled). The
 * timer goes as soon as either happens, and never holds the process open. Not for a promise that may
 * itself give undefined: the two would look alike.
 */
export function settledWithin<T extends NonNullable<unknown>>(
  promise: Promise<T>,
  ms: number,
): Promise<T | undefined> {
  let timer: NodeJS.Timeout;
  const due = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), ms).unref();
  });
  return Promise.race([promise, due]).finally(() => clearTimeout(timer));
}
