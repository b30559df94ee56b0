import { z } from 'zod';

/** An object of names to values, as JSON has them: not null, not an array. */
export const isObject = (input: unknown): input is Record<string, unknown> =>
  typeof input === 'object' && input !== null && !Array.isArray(input);

/**
 * An object of names to values (YAML or JSON), parsed into a record with a null prototype: the names come
 * from outside and are data, so looking up `constructor` or `toString` finds only what was sent, and a
 * `__proto__` is an ordinary name (z.record would drop it unchecked). A bad name is refused with the key
 * schema's own message. Give a default with `.prefault`, which builds it the same way; `.default` would not.
 */
export function dataRecord<K extends z.ZodType<string, string>, V extends z.ZodType>(key: K, value: V) {
  return z
    .preprocess(
      (input) => (isObject(input) ? new Map(Object.entries(input)) : input),
      z.map(key, value, {
        // undefined is left to the caller's "required"
        error: (issue) => (issue.input === undefined ? undefined : 'expected an object'),
      }),
    )
    .transform((entries) => {
      const record: Record<z.output<K>, z.output<V>> = Object.create(null);
      for (const [name, item] of entries) record[name] = item;
      return record;
    });
}

/** `record[key]` when the record has it as its own: never what Object.prototype has under that name. */
export function ownValue<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
