import { MAX_ALERTS_SHOWN } from '../alerts/configSchema.js';
import { type Env, type FileConfig, readConfig } from '../config/index.js';
import { checkTemplates } from '../views/templateCheck.js';
import { EXIT_CONFIG } from './exitCodes.js';

/** The configuration as check-config reads it: each valid half, every problem, and a summary if none. */
export interface CheckedConfig {
  env?: Env;
  file?: FileConfig;
  problems: string[];
  /** What was read, in a line: routes, services, checks, actions, templates. */
  summary: string;
}

/** Reads env vars, the YAML file and every template, collecting every problem rather than the first. */
export async function readCheckedConfig(source: NodeJS.ProcessEnv): Promise<CheckedConfig> {
  const { env, file, errors } = await readConfig(source);
  const problems = errors.flatMap((e) => e.problems.map((p) => `${e.source}: ${p}`));
  // A deploy pipeline whose token went missing must not pass on the sandbox's made-up one.
  if (env?.sandbox)
    problems.push(
      'environment: SLACK_BOT_TOKEN: required; without it and a config file of your own the bot runs the sandbox, which is not a deployment to check',
    );
  // The templates are checked even when the rest is invalid; without a valid file, with the most
  // alerts a message may show, the worst case.
  const templatesDir = env?.TEMPLATES_DIR ?? (source.TEMPLATES_DIR || undefined);
  const { templates, problems: templateProblems } = await checkTemplates(
    templatesDir,
    file?.alerts.maxAlertsShown ?? MAX_ALERTS_SHOWN,
  );
  problems.push(...templateProblems.flatMap((p) => p.split('\n')).map((p) => `templates: ${p}`));
  const services = file ? Object.values(file.services) : [];
  const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;
  const summary = `${env?.INCIDENT_BOT_CONFIG ?? 'the config file'} (${[
    count(file?.routes.length ?? 0, 'route'),
    count(services.length, 'service'),
    count(
      services.reduce((n, s) => n + s.checks.length, 0),
      'health check',
    ),
    count(
      services.reduce((n, s) => n + s.actions.length, 0),
      'action',
    ),
  ].join(
    ', ',
  )}); ${count(templates.names().length, 'template')}${templatesDir ? ` with overrides from ${templatesDir}` : ''}`;
  return { ...(env ? { env } : {}), ...(file ? { file } : {}), problems, summary };
}

/**
 * `incident-bot check-config`: env vars, the YAML file and every template (overrides included, rendered
 * with the largest views as at start), without a database or Redis. Every problem is printed, one per
 * line, so a deploy pipeline shows the whole list at once. Returns the exit code.
 */
export async function checkConfig(
  source: NodeJS.ProcessEnv,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const { problems, summary } = await readCheckedConfig(source);
  if (problems.length > 0) {
    err.write(`incident-bot: ${problems.length} configuration problem${problems.length === 1 ? '' : 's'}:\n`);
    for (const problem of problems) err.write(`${problem}\n`);
    return EXIT_CONFIG;
  }
  out.write(`ok: environment; ${summary}\n`);
  return 0;
}
