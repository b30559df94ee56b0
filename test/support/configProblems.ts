import { ConfigError } from '../../src/config/errors.js';
import { parseFileConfig } from '../../src/config/file.js';

/** The problems a config file is refused with, one line each; fails the test if it is accepted. */
export function problemsOf(text: string): string[] {
  try {
    parseFileConfig('config/test.yml', text);
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error('expected a ConfigError');
}
