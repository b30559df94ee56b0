import { z } from 'zod';
import { isPerson, PersonOrGroup } from '../actions/catalog.js';
import { RouteMatchers } from '../alerts/configSchema.js';
import { Delay } from '../primitives/duration.js';
import { dataRecord, ownValue } from '../primitives/records.js';
import { SEVERITIES } from '../primitives/severity.js';

/**
 * `escalation` in the YAML config: who is called, and when, about an alert-born incident nobody has
 * acknowledged. A policy is ordered steps, each `after` a time since the incident opened (or reopened):
 * the people and user groups it mentions in the thread, and the pager it pages. The policy of an incident
 * is that of the first route whose matchers match its labels, else that of its severity, else none.
 */

const POLICY_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/;
const PolicyName = z.string().regex(POLICY_NAME, 'expected a policy name like database-down');

const StepSchema = z
  .object({
    after: Delay,
    notify: z.array(PersonOrGroup).max(20).default([]),
    // A pager of `pagers:` (checked with the whole file, see src/config/file.ts).
    page: z.string().min(1).optional(),
  })
  .strict()
  .refine((step) => step.notify.length > 0 || step.page !== undefined, {
    message: 'a step notifies someone, pages, or both',
    path: ['notify'],
  });

export type EscalationStep = z.infer<typeof StepSchema>;

const PolicySchema = z
  .object({ steps: z.array(StepSchema).min(1, 'expected at least one step').max(20) })
  .strict()
  .superRefine((policy, ctx) => {
    // In order, each later than the one before: two steps at one time are one step.
    policy.steps.forEach((step, i) => {
      const previous = policy.steps[i - 1];
      // A step whose own `after` is wrong has its problem told already.
      if (
        typeof previous?.after === 'number' &&
        typeof step.after === 'number' &&
        step.after <= previous.after
      )
        ctx.addIssue({
          code: 'custom',
          path: ['steps', i, 'after'],
          message: 'expected later than the step before it: steps are listed in the order they run',
        });
    });
  });

export type EscalationPolicy = z.infer<typeof PolicySchema>;

const RouteSchema = z.object({ matchers: RouteMatchers, policy: PolicyName }).strict();

export const EscalationConfigSchema = z
  .object({
    policies: dataRecord(PolicyName, PolicySchema).prefault({}),
    routes: z.array(RouteSchema).default([]),
    severities: z.partialRecord(z.enum(SEVERITIES), PolicyName).default({}),
  })
  .strict()
  .superRefine((config, ctx) => {
    // A policy with problems of its own leaves the record unbuilt, as the Map zod read: names are its keys.
    const policies: unknown = config.policies;
    const known = (name: string) =>
      policies instanceof Map ? policies.has(name) : ownValue(config.policies, name) !== undefined;
    const unknown = (name: string, path: PropertyKey[]) => {
      if (!known(name))
        ctx.addIssue({ code: 'custom', path, message: `no policy ${name} in escalation.policies` });
    };
    config.routes.forEach((route, i) => {
      unknown(route.policy, ['routes', i, 'policy']);
    });
    for (const [severity, name] of Object.entries(config.severities))
      if (name !== undefined) unknown(name, ['severities', severity]);
  })
  .prefault({});

export type EscalationConfig = z.infer<typeof EscalationConfigSchema>;

/** The user groups the policies mention (ids and handles), which the bot reads from Slack. */
export function escalationGroups(config: { escalation: EscalationConfig }): string[] {
  const named = Object.values(config.escalation.policies).flatMap((p) => p.steps.flatMap((s) => s.notify));
  return [...new Set(named.filter((entry) => !isPerson(entry)))];
}
