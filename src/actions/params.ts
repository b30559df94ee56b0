import { z } from 'zod';
import { ownValue } from '../primitives/records.js';
import { quoted, truncateForMrkdwn } from '../render/mrkdwn.js';
import type { ParamValue } from './drivers/driver.js';

/** An action's parameters as the YAML catalog declares them, and checking what people typed against them. */

export const ParamSpecSchema = z.discriminatedUnion('type', [
  z
    .object({
      type: z.literal('integer'),
      min: z.number().int().optional(),
      max: z.number().int().optional(),
      default: z.number().int().optional(),
      description: z.string().optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('string'),
      // Anchored; values are passed to drivers as data (one argv element, a bind parameter), never as code.
      pattern: z
        .string()
        .refine((p) => {
          try {
            new RegExp(p);
            return true;
          } catch {
            return false;
          }
        }, 'expected a valid regular expression')
        .optional(),
      enum: z.array(z.string()).min(1).optional(),
      maxLength: z.number().int().min(1).max(1000).default(200),
      default: z.string().optional(),
      description: z.string().optional(),
    })
    .strict(),
  z
    .object({
      type: z.literal('boolean'),
      default: z.boolean().optional(),
      description: z.string().optional(),
    })
    .strict(),
]);

export type ParamSpec = z.infer<typeof ParamSpecSchema>;
export const PARAM_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * `replicas=6 reason="db hot"` → { replicas: '6', reason: 'db hot' }; anything else is a usage error.
 * Names are what people typed: the record has no prototype, so `constructor` or `__proto__` is just a name.
 */
export function parseParamArgs(tokens: string[]): { values: Record<string, string> } | { error: string } {
  const values: Record<string, string> = Object.create(null);
  for (const token of tokens) {
    const eq = token.indexOf('=');
    if (eq <= 0) return { error: `${quoted(token)} is not a parameter: write name=value` };
    const name = token.slice(0, eq);
    if (!PARAM_NAME.test(name)) return { error: `${quoted(name)} is not a parameter name` };
    if (Object.hasOwn(values, name)) return { error: `${name} is given twice` };
    values[name] = token.slice(eq + 1).replace(/^"(.*)"$/s, '$1');
  }
  return { values };
}

/** Splits command text into words, keeping quoted parts together: `reason="db is hot"` is one word. */
export function splitWords(text: string): string[] {
  return [...text.matchAll(/(?:[^\s"]+|"[^"]*")+/g)].map((m) => m[0]);
}

/** A refused value as a problem quotes it: its start only, since a label filling it may be a megabyte. */
const refused = (value: string) => quoted(truncateForMrkdwn(value, 100));

/**
 * Checks raw values against the specs: typed values, or one line per problem (writes nothing either way).
 * `optionParams` begin an argv element (optionParamsOf): there a value starting with "-" would reach the
 * program as an option (`--kubeconfig=/tmp/x`), so it is refused unless the catalog chose such values
 * itself: a string's pattern or enum, an integer's min.
 */
export function validateParams(
  specs: Record<string, ParamSpec>,
  raw: Record<string, string>,
  optionParams: readonly string[],
): { ok: true; params: Record<string, ParamValue> } | { ok: false; problems: string[] } {
  const problems: string[] = [];
  const asOption = (name: string, value: string) => {
    if (!value.startsWith('-') || !optionParams.includes(name)) return false;
    problems.push(`${name} may not start with "-": the command would take it for an option`);
    return true;
  };
  const params: Record<string, ParamValue> = Object.create(null);
  for (const name of Object.keys(raw)) {
    if (!Object.hasOwn(specs, name)) {
      problems.push(
        `unknown parameter ${name}${Object.keys(specs).length ? ` (expected ${Object.keys(specs).join(', ')})` : ' (this action takes none)'}`,
      );
    }
  }
  for (const [name, spec] of Object.entries(specs)) {
    const value = ownValue(raw, name);
    if (value === undefined) {
      if (spec.default !== undefined) params[name] = spec.default;
      else problems.push(`${name} is required`);
      continue;
    }
    switch (spec.type) {
      case 'integer': {
        if (!/^-?\d{1,15}$/.test(value)) {
          problems.push(`${name} must be a whole number, got ${refused(value)}`);
          break;
        }
        const n = Number(value);
        if (spec.min === undefined && asOption(name, value)) break;
        if (spec.min !== undefined && n < spec.min)
          problems.push(`${name} must be at least ${spec.min}, got ${n}`);
        else if (spec.max !== undefined && n > spec.max)
          problems.push(`${name} must be at most ${spec.max}, got ${n}`);
        else params[name] = n;
        break;
      }
      case 'boolean':
        if (value === 'true' || value === 'false') params[name] = value === 'true';
        else problems.push(`${name} must be true or false, got ${refused(value)}`);
        break;
      case 'string':
        if (value.length > spec.maxLength)
          problems.push(`${name} must be at most ${spec.maxLength} characters`);
        else if (spec.enum && !spec.enum.includes(value))
          problems.push(`${name} must be one of ${spec.enum.join(', ')}`);
        else if (spec.pattern && !new RegExp(`^(?:${spec.pattern})$`).test(value))
          problems.push(`${name} does not match ${spec.pattern}`);
        else if (spec.enum || spec.pattern || !asOption(name, value)) params[name] = value;
        break;
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, params };
}
