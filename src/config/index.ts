import { existsSync } from 'node:fs';
import { DEFAULT_CONFIG_PATH, type Env, parseEnv, SANDBOX_CONFIG_PATH } from './env.js';
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
  // Read even when the env is invalid, so one run reports every problem; '' counts as unset here too.
  const path = configPath(source, env);
  try {
    file = await loadFileConfig(path);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(err);
  }
  // The path actually read, so the start log (and check-config) can say which file it was.
  const withPath = env && { ...env, INCIDENT_BOT_CONFIG: path };
  return { ...(withPath ? { env: withPath } : {}), ...(file ? { file } : {}), errors };
}

/**
 * INCIDENT_BOT_CONFIG, else config/incident-bot.yml; the sandbox, when neither exists, takes its demo
 * config instead, so that a first `npm start` needs no file at all.
 */
function configPath(source: NodeJS.ProcessEnv, env: Env | undefined): string {
  const given = source.INCIDENT_BOT_CONFIG || undefined;
  if (env?.sandbox && !given && !existsSync(DEFAULT_CONFIG_PATH)) return SANDBOX_CONFIG_PATH;
  return env?.INCIDENT_BOT_CONFIG ?? given ?? DEFAULT_CONFIG_PATH;
}
