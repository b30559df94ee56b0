#!/usr/bin/env node
import { secretsOf, startApp } from './app.js';
import { checkConfig } from './cli/checkConfig.js';
import { doctor } from './cli/doctor.js';
import { EXIT_CONFIG, EXIT_UNAVAILABLE, EXIT_USAGE } from './cli/exitCodes.js';
import { RENDER_USAGE, renderCommand } from './cli/render.js';
import { requireServices, ServicesUnavailableError } from './cli/services.js';
import { type Config, ConfigError, loadConfig } from './config/index.js';
import { MigrationError, migrateDatabase } from './db/migrate.js';
import { createLogger, type Logger } from './observability/logger.js';
import { collectGarbage, logMemoryOnSigusr2 } from './observability/memory.js';
import { logUnhandledRejections } from './observability/processErrors.js';
import { TemplateError } from './render/templates.js';
import { type EmbeddedPostgres, EmbeddedPostgresError, sandboxDatabase } from './sandbox/embeddedPostgres.js';

const USAGE = `usage: incident-bot <role>

roles:
  serve [--no-worker]   HTTP (Slack, Alertmanager, /healthz, /readyz, /metrics) and, unless told not to, a worker
  worker                queue workers only; /healthz, /readyz and /metrics on PORT
  migrate               apply database migrations and exit
  check-config          check env vars, the YAML file and every template; print each problem
  doctor                check Node, PostgreSQL, Redis, the config, the Slack tokens, scopes and channels
  ${RENDER_USAGE}
                        print what a template gives for that data (Block Kit JSON or Markdown)`;

/** Problems a person must fix: said in a few lines, without a stack trace. */
function isOperatorError(err: unknown): err is Error {
  return err instanceof ConfigError || err instanceof TemplateError || err instanceof MigrationError;
}

async function main(argv: string[]): Promise<number> {
  const [role = 'serve', ...flags] = argv;
  if (role === '--help' || role === '-h' || role === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (role === 'check-config' && flags.length === 0)
    return checkConfig(process.env, process.stdout, process.stderr);
  if (role === 'render') return renderCommand(flags, process.env, process.stdout, process.stderr);
  if (role === 'doctor' && flags.length === 0) return doctor(process.env, process.stdout);
  if (!['serve', 'worker', 'migrate', 'check-config', 'doctor'].includes(role)) {
    process.stderr.write(`unknown role "${role}"\n${USAGE}\n`);
    return EXIT_USAGE;
  }
  const unknownFlags = flags.filter((f) => !(role === 'serve' && f === '--no-worker'));
  if (unknownFlags.length > 0) {
    process.stderr.write(`unknown option ${unknownFlags.join(' ')} for ${role}\n${USAGE}\n`);
    return EXIT_USAGE;
  }

  let config = await loadConfig();
  const logger = createLogger(config.env.LOG_LEVEL, secretsOf(config));
  logUnhandledRejections(logger);
  // As soon as there is a logger: SIGUSR2's default ends the process, the sandbox's PostgreSQL left running.
  logMemoryOnSigusr2(logger);
  // The sandbox's emulated Slack lives in the serving process, which also migrates its database.
  if (config.env.sandbox && (role !== 'serve' || flags.includes('--no-worker'))) {
    throw new ConfigError('environment', [
      'SLACK_BOT_TOKEN: required; without it only `serve` runs, against the built-in sandbox',
    ]);
  }
  let embedded: EmbeddedPostgres | undefined;
  const notes: { DATABASE_URL?: string } = {};
  if (config.env.sandboxDatabase) {
    try {
      embedded = await sandboxDatabase(config.env.DATABASE_URL, logger);
      if (embedded) config = { ...config, env: { ...config.env, DATABASE_URL: embedded.url } };
    } catch (err) {
      if (!(err instanceof EmbeddedPostgresError)) throw err;
      notes.DATABASE_URL = `The sandbox could not start a PostgreSQL of its own either: ${err.message}.`;
    }
  }
  try {
    return await serveRole(role, flags, config, logger, notes);
  } finally {
    await embedded?.stop();
  }
}

/** Runs `role` once its configuration is read: checks the services, then migrates or serves. */
async function serveRole(
  role: string,
  flags: string[],
  config: Config,
  logger: Logger,
  notes: { DATABASE_URL?: string },
): Promise<number> {
  // Said once, in words, rather than as a stack trace or a reconnect logged for ever.
  await requireServices(config.env, process.env, 'the bot', notes);
  if (role === 'migrate') {
    const applied = await migrateDatabase(config.env.DATABASE_URL);
    logger.info({ applied }, applied.length ? 'migrations applied' : 'database already up to date');
    return 0;
  }

  // Listening before the start, so a signal during it (workers already running) still drains.
  const stopRequested = new Promise<NodeJS.Signals>((resolve) => {
    let stopping = false;
    // A repeated signal (tsx and a terminal both pass one on) must not cut the drain short:
    // SHUTDOWN_TIMEOUT bounds it.
    const onSignal = (signal: NodeJS.Signals) => {
      logger.info({ signal }, stopping ? 'already stopping' : 'stopping');
      if (!stopping) {
        // Should a close hang anyway, the process still ends, non-zero so the orchestrator can tell.
        setTimeout(() => process.exit(1), config.env.SHUTDOWN_TIMEOUT + 10_000).unref();
      }
      stopping = true;
      resolve(signal);
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
    // A closed terminal: stop as cleanly as on SIGTERM, the sandbox's PostgreSQL with the rest.
    process.on('SIGHUP', onSignal);
  });
  const app = await startApp(config, {
    http: role === 'serve',
    worker: role === 'worker' || !flags.includes('--no-worker'),
    logger,
  });
  // Startup's garbage (parsed modules, the template check's renders, migrations) and the young generation
  // it grew (32 MiB) would stay resident in an idle process until traffic sets off a collection.
  await collectGarbage().catch((err) => logger.warn({ err }, 'could not collect garbage'));
  await stopRequested;
  await app.stop();
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof ServicesUnavailableError) {
      process.stderr.write(`incident-bot: ${err.paragraphs.join('\n\n')}\n`);
      process.exit(EXIT_UNAVAILABLE);
    }
    if (isOperatorError(err)) {
      const lines =
        err instanceof ConfigError
          ? [`invalid configuration in ${err.source}:`, ...err.problems.map((p) => `  ${p}`)]
          : [err.message];
      process.stderr.write(`incident-bot: ${lines.join('\n')}\n`);
      process.exit(EXIT_CONFIG);
    }
    process.stderr.write(`incident-bot: ${(err as Error).stack ?? err}\n`);
    process.exit(1);
  },
);
