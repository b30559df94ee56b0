import { z } from 'zod';
import { ownValue } from '../../primitives/records.js';
import type { ParamValue } from './driver.js';

/**
 * `{{name}}` placeholders in driver settings. Filling them is plain substitution of validated param values
 * (not Handlebars), and each driver decides where a value may go and how it is encoded there.
 */

const PLACEHOLDER = /\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}/g;
const WHOLE_PLACEHOLDER = /^\{\{([a-zA-Z_][a-zA-Z0-9_]*)\}\}$/;

export function placeholdersIn(text: string): string[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => m[1]!);
}

/** The param a string stands for when it is exactly one placeholder ("{{replicas}}"). */
export function wholePlaceholder(text: string): string | undefined {
  return WHOLE_PLACEHOLDER.exec(text)?.[1];
}

/** The caller checks every placeholder against the action's params at config load, so a missing one is a bug. */
export function paramValue(params: Record<string, ParamValue>, name: string): ParamValue {
  const value = ownValue(params, name);
  if (value === undefined) throw new Error(`no value for {{${name}}}`);
  return value;
}

export function fill(
  template: string,
  params: Record<string, ParamValue>,
  encode: (value: string) => string = (value) => value,
): string {
  return template.replace(PLACEHOLDER, (_, name: string) => encode(String(paramValue(params, name))));
}

/** A string that may hold placeholders. A stray "{{" is refused, so a typo like `{{ replicas }}` is not sent as text. */
export const Template = z
  .string()
  .refine(
    (text) => !text.replace(PLACEHOLDER, '').includes('{{'),
    'expected placeholders written {{name}}, with a name like replicas',
  );

/** A string where no param may go: a program to run, a host to call, an object to act on. */
export const Fixed = z.string().refine((text) => !text.includes('{{'), 'no {{placeholder}} is allowed here');

/** An environment variable name. */
export const EnvName = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name like API_TOKEN');
