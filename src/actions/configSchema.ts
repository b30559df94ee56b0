import { z } from 'zod';
import { Duration, TimerDuration } from '../primitives/duration.js';

/** `actions` in the YAML config: how the workers that run remediation actions behave. */

export const ActionsConfigSchema = z
  .object({
    // While a service runs degraded, remind the incident's commander after this long (the runbooks' 24 h).
    degradationReminderAfter: Duration.default(24 * 3_600_000),
    // How long a running action's job lock lasts: a worker that dies is noticed after about this.
    workerLockDuration: TimerDuration.default(30_000),
    // How often the members of the user groups approvers and requesters name are read from Slack, in the background.
    membershipRefresh: TimerDuration.default(60_000),
  })
  .strict()
  .prefault({});
