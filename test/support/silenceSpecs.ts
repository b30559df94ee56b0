import { expect } from 'vitest';
import type { SilenceSpec } from '../../src/alertmanager/alertmanagerApi.js';
import { AlertmanagerError } from '../../src/alertmanager/errors.js';

const HOUR = 3_600_000;

/** A silence of the payments-api latency alert, starting now, for an hour. */
export function silenceSpec(overrides: Partial<SilenceSpec> = {}): SilenceSpec {
  const startsAt = new Date();
  return {
    matchers: [
      { name: 'alertname', value: 'HighLatency' },
      { name: 'service', value: 'payments-api' },
    ],
    startsAt,
    endsAt: new Date(startsAt.getTime() + HOUR),
    createdBy: 'U0ALICE',
    comment: 'INC-7: deploying the fix',
    ...overrides,
  };
}

/** The AlertmanagerError a call is expected to fail with. */
export async function alertmanagerRejection(promise: Promise<unknown>): Promise<AlertmanagerError> {
  const err = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AlertmanagerError);
  return err as AlertmanagerError;
}
