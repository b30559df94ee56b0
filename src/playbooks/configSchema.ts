import { z } from 'zod';
import { RouteMatchers } from '../alerts/configSchema.js';
import { Duration } from '../primitives/duration.js';
import { dataRecord } from '../primitives/records.js';
import { MAX_PLAYBOOK_MOVES } from '../views/incident.js';

/**
 * `playbooks` in the YAML config: the runbook's first moves for an alert. A playbook's matchers pick the
 * alert-born incidents it serves (the first playbook that matches wins); it names one service of the
 * catalog, the checks of that service to offer (`auto: true` runs them when the incident opens) and the
 * actions to offer, whose params may be filled from the incident's labels with `{{labels.name}}`.
 * What the names refer to (the service, its checks and actions, the params) is checked against the
 * catalog with the whole file: see playbookProblems.
 */

export const MOVE_NAME = /^[a-z][a-z0-9-]{0,62}$/;
const MoveName = z
  .string()
  .regex(MOVE_NAME, 'expected a check or action name of the service, like api-health');

// A check or an action written as its bare name is the move with no options.
const CheckMove = z.preprocess(
  (input) => (typeof input === 'string' ? { check: input } : input),
  z.strictObject({ check: MoveName, auto: z.boolean().default(false) }),
);

/** `{{labels.name}}`, the only placeholder a param's value may hold. */
export const LABEL_PLACEHOLDER = /\{\{\s*labels\.([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g;

const ParamTemplate = z
  .union([z.string().max(500), z.number(), z.boolean()], {
    error: 'expected a value, text with {{labels.name}} placeholders, a number or true/false',
  })
  .transform((value) => String(value))
  .refine((text) => !text.replace(LABEL_PLACEHOLDER, '').includes('{{'), {
    message: 'the only placeholder a value may hold is {{labels.name}}',
  });

const ActionMove = z.preprocess(
  (input) => (typeof input === 'string' ? { action: input } : input),
  z.strictObject({
    action: MoveName,
    params: dataRecord(
      z.string().regex(/^[a-zA-Z_][a-zA-Z0-9_]*$/, 'expected a parameter name like replicas'),
      ParamTemplate,
    ).prefault({}),
  }),
);

const PlaybookSchema = z
  .strictObject({
    name: z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'expected a playbook name like service-down'),
    matchers: RouteMatchers,
    service: z.string().min(1),
    checks: z.array(CheckMove).default([]),
    actions: z.array(ActionMove).default([]),
    // However many incidents a storm opens for the service, its auto checks run once in this long; the
    // other incidents' threads say where the results are.
    autoChecksOncePer: Duration.default(10 * 60_000),
  })
  .superRefine((playbook, ctx) => {
    const moves = playbook.checks.length + playbook.actions.length;
    if (moves === 0)
      ctx.addIssue({ code: 'custom', path: ['checks'], message: 'a playbook offers a check or an action' });
    if (moves > MAX_PLAYBOOK_MOVES)
      ctx.addIssue({
        code: 'custom',
        path: ['actions'],
        message: `a playbook offers at most ${MAX_PLAYBOOK_MOVES} moves (checks and actions), got ${moves}`,
      });
    const twice = (names: string[], key: 'checks' | 'actions') =>
      names.forEach((name, i) => {
        if (names.indexOf(name) !== i)
          ctx.addIssue({ code: 'custom', path: [key, i], message: `${name} is listed twice` });
      });
    twice(
      playbook.checks.map((c) => c.check),
      'checks',
    );
    twice(
      playbook.actions.map((a) => a.action),
      'actions',
    );
  });

export type Playbook = z.infer<typeof PlaybookSchema>;

export const PlaybooksConfigSchema = z
  .array(PlaybookSchema)
  .default([])
  .superRefine((playbooks, ctx) => {
    const names = playbooks.map((p) => p.name);
    names.forEach((name, i) => {
      if (names.indexOf(name) !== i)
        ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${name} is listed twice` });
    });
  });

export type PlaybooksConfig = z.infer<typeof PlaybooksConfigSchema>;
