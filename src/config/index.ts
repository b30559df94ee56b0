import { type PagerSecrets, readPagerSecrets } from '../paging/configSchema.js';
import { configPathOf, type Env, parseEnv } from './env.js';
import { ConfigError } from './errors.js';
import { type FileConfig, loadFileConfig, loadPagersSection } from './file.js';

export { type Env, SANDBOX_CONFIG_PATH } from './env.js';
export { ConfigError } from './errors.js';
export type { FileConfig } from './file.js';

export interface Config {
  env: Env;
  file: FileConfig;
  /** The secrets of the file's pagers, read from the env vars it names. */
  pagerSecrets: PagerSecrets;
}

/** Validates env vars and the YAML file together, so one run reports every problem at once. */
export async function loadConfig(source: NodeJS.ProcessEnv = process.env): Promise<Config> {
  const { env, file, pagerSecrets, errors } = await readConfig(source);
  if (env && file && pagerSecrets) return { env, file, pagerSecrets };
  throw new ConfigError(
    errors.map((e) => e.source).join(' and '),
    errors.flatMap((e) => (errors.length > 1 ? e.problems.map((p) => `${e.source}: ${p}`) : e.problems)),
  );
}

/** Each half of the configuration that is valid, and the problems of each that is not. */
export async function readConfig(source: NodeJS.ProcessEnv): Promise<{
  env?: Env;
  file?: FileConfig;
  pagerSecrets?: PagerSecrets;
  errors: ConfigError[];
}> {
  const errors: ConfigError[] = [];
  let env: Env | undefined;
  let file: FileConfig | undefined;
  let envProblems: string[] = [];
  try {
    env = parseEnv(source);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    envProblems = err.problems;
  }
  // Read even when the env is invalid, so one run reports every problem.
  const path = configPathOf(source);
  try {
    file = await loadFileConfig(path);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(err);
  }
  // The variables the file's pagers name belong to the environment: told with its other problems.
  const pagers = readPagerSecrets(file ? file.pagers : await loadPagersSection(path), source);
  envProblems = [...envProblems, ...pagers.problems];
  if (envProblems.length > 0) errors.unshift(new ConfigError('environment', envProblems));
  return {
    ...(env ? { env } : {}),
    ...(file ? { file } : {}),
    ...(pagers.problems.length === 0 ? { pagerSecrets: pagers.secrets } : {}),
    errors,
  };
}
