import { createHash } from 'node:crypto';
import { z } from 'zod';
import { Duration, TimerDuration } from '../primitives/duration.js';
import { dataRecord } from '../primitives/records.js';
import { DriverSchema, placeholdersOf, supportsDryRun } from './drivers/index.js';
import { PARAM_NAME, ParamSpecSchema } from './params.js';

/** A remediation action as a service in the YAML config offers it, who may request it and who must approve each run. */

/** A person (U…, W…) or a user group (S…, @handle), as `approvers` and `requesters` name them. */
export const PersonOrGroup = z
  .string()
  .regex(
    /^([UW][A-Z0-9]{2,}|S[A-Z0-9]{2,}|@[a-z0-9._-]+)$/,
    'expected a Slack user id (U…), a user-group id (S…) or a user-group handle (@sre-oncall)',
  );

/** Whether an entry of `approvers` or `requesters` names a person rather than a user group. */
export const isPerson = (entry: string) => /^[UW]/.test(entry);

export const ApprovalPolicySchema = z
  .object({
    approvers: z.array(PersonOrGroup).min(1, 'expected at least one approver'),
    // Distinct people who must approve.
    required: z.number().int().min(1).max(10).default(1),
    allowSelfApproval: z.boolean().default(false),
    expiresAfter: Duration.default(15 * 60_000),
  })
  .strict()
  .refine((p) => !p.approvers.every(isPerson) || p.required <= p.approvers.length, {
    message: 'required is more than the approvers listed',
    path: ['required'],
  });

export type ApprovalPolicy = z.infer<typeof ApprovalPolicySchema>;

export const ActionSchema = z
  .object({
    name: z
      .string()
      .regex(/^[a-z][a-z0-9-]{0,62}$/, 'expected lowercase letters, digits and -, like enable-degradation'),
    description: z.string().min(1).max(300),
    kind: z.enum(['degradation', 'rollback', 'scale', 'custom']),
    // For kind degradation: whether a success turns degradation on or off for the service.
    degradation: z.enum(['enable', 'disable']).optional(),
    driver: DriverSchema,
    params: dataRecord(
      z.string().regex(PARAM_NAME, 'expected a parameter name like replicas'),
      ParamSpecSchema,
    ).prefault({}),
    approval: ApprovalPolicySchema,
    // Who may request a run; anyone in the channel when left out.
    requesters: z
      .array(PersonOrGroup)
      .min(1, 'expected at least one requester (leave requesters out to let anyone request)')
      .optional(),
    timeout: TimerDuration.default(5 * 60_000),
    dryRun: z.boolean().default(false),
    // A run whose worker died after its driver started is failed (check the target by hand), or run
    // again with retry, which only an action declared idempotent (safe to run twice) may do.
    onInterrupted: z.enum(['fail', 'retry']).default('fail'),
    idempotent: z.boolean().default(false),
  })
  .strict()
  .superRefine((action, ctx) => {
    if (action.kind === 'degradation' && !action.degradation) {
      ctx.addIssue({
        code: 'custom',
        path: ['degradation'],
        message: 'a degradation action must say enable or disable',
      });
    }
    if (action.kind !== 'degradation' && action.degradation) {
      ctx.addIssue({
        code: 'custom',
        path: ['degradation'],
        message: 'only degradation actions enable or disable degradation',
      });
    }
    if (action.dryRun && !supportsDryRun(action.driver)) {
      ctx.addIssue({
        code: 'custom',
        path: ['dryRun'],
        message: `the ${action.driver.type} driver as configured has no dry run (a command needs dryRunArgv, http a dryRun block)`,
      });
    }
    // Params with problems of their own are left unbuilt (a Map): those are told, not every placeholder.
    if (action.params instanceof Map) return;
    for (const name of placeholdersOf(action.driver)) {
      if (!Object.hasOwn(action.params, name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['driver'],
          message: `uses {{${name}}}, which is not among the params`,
        });
      }
    }
  });

export type ActionDefinition = z.infer<typeof ActionSchema>;

/** The part of the config that lists each service's actions (`services` in the YAML). */
export interface ActionCatalog {
  services: Readonly<Record<string, { actions: readonly ActionDefinition[] }>>;
}

/** The catalog's definition of `action` on `service`, if the config has it. */
export function findAction(
  catalog: ActionCatalog,
  service: string,
  action: string,
): ActionDefinition | undefined {
  return catalog.services[service]?.actions.find((a) => a.name === action);
}

/**
 * What a run of the action does, as the sha256 of its canonical JSON: a request pins it when it is asked
 * for, and a run (or dry run) whose action no longer has it is refused. In it: kind and degradation (what
 * a success records), the driver's settings (what runs; the dry-run settings too, whose output the
 * approvers read), the params schema (what the pinned values mean), timeout (when the run is cut short)
 * dryRun (whether approvers see one before voting), and onInterrupted and idempotent (whether an
 * interrupted run may be run again: one approved as never repeated must not become one that is). Not in
 * it: the name (how it is found), the descriptions (words for people), approval (checked again against
 * the catalog at run time), and the contents of files the driver names (a script, a `sql` file).
 * Durations are in ms after parsing, so `2m` and `120s` are one digest.
 */
export function actionDigest(definition: ActionDefinition): string {
  const { kind, degradation, driver, timeout, dryRun, onInterrupted, idempotent } = definition;
  const params = Object.entries(definition.params).map(([name, { description, ...spec }]) => [name, spec]);
  const pinned = { kind, degradation, driver, timeout, dryRun, onInterrupted, idempotent };
  return createHash('sha256')
    .update(canonicalJson({ ...pinned, params: Object.fromEntries(params) }))
    .digest('hex');
}

/** JSON with every object's keys sorted, so two configs listing the same settings in any order agree. */
const canonicalJson = (value: unknown) =>
  JSON.stringify(value, (_key, item: unknown) =>
    typeof item === 'object' && item !== null && !Array.isArray(item)
      ? Object.fromEntries(Object.entries(item).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : item,
  );

/**
 * The user groups (ids and handles) any action names among its approvers or requesters, and those
 * `silences.silencers` names: the groups whose members the policies ask about.
 */
export function policyGroups(
  config: ActionCatalog & { silences?: { silencers?: readonly string[] | undefined } },
): string[] {
  const people = Object.values(config.services).flatMap((service) =>
    service.actions.flatMap((action) => [...action.approval.approvers, ...(action.requesters ?? [])]),
  );
  const groups = [...people, ...(config.silences?.silencers ?? [])].filter((entry) => !isPerson(entry));
  return [...new Set(groups)];
}
