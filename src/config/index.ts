import { configPathOf, type Env, parseEnv } from './env.js';
import { ConfigError } from './errors.js';
import { type FileConfig, loadFileConfig } from './file.js';

export { type Env, SANDBOX_CONFIG_PATH } from './env.js';
export { ConfigError } from './errors.js';
export type { FileConfig } from './file.js';

export interface Config {
  env: Env;
  file: FileConfig;
}

/** Validates env vars and the YAML file together, so one run reports every problem at once. */
export async function loadConfig(source: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const { env, file, errors } = await readConfig(source);
  if (env && file) return { env, file };
  throw new ConfigError(
    errors.map((e) => e.source).join(' and '),
    errors.flatMap((e) => (errors.length > 1 ? e.problems.map((p) => `${e.source}: ${p}`) : e.problems)),
  );
}

/** Each half of the configuration that is valid, and the problems of each that is not. */
export async function readConfig(
  source: NodeJS.ProcessEnv,
): Promise<{ env?: Env; file?: FileConfig; errors: ConfigError[] }> {
  const errors: ConfigError[] = [];
  let env: Env | undefined;
  let file: FileConfig | undefined;
  try {
    env = parseEnv(source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(err);
  }
  // Read even when the env is invalid, so one run reports every problem.
  const path = configPathOf(source);
  try {
    file = await loadFileConfig(path);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(err);
  }
  return { ...(env ? { env } : {}), ...(file ? { file } : {}), errors };
}
