import { spawn } from 'node:child_process';
import { basename } from 'node:path';
import { z } from 'zod';
import { ownValue } from '../../primitives/records.js';
import {
  CappedOutput,
  DEFAULT_MAX_OUTPUT_BYTES,
  type Driver,
  type DriverResult,
  type DriverRun,
  lastLine,
  startDeadline,
} from './driver.js';
import { EnvName, fill, placeholdersIn, Template } from './placeholders.js';

/**
 * Runs a program from an argv array, never through a shell: each {{param}} is filled inside its own argv
 * element, so `a; rm -rf /` or `$(id)` arrives as one literal argument.
 */

// The program itself is fixed in the config; params only fill its arguments.
const Argv = z
  .array(Template)
  .min(1)
  .refine((argv) => !argv[0]?.includes('{{'), {
    message: 'argv[0] is the program and takes no {{placeholder}}',
    path: [0],
  });

const PassedEnv = z.object({ name: EnvName, secret: z.boolean().default(false) }).strict();

export const CommandSettingsSchema = z
  .object({
    type: z.literal('command'),
    argv: Argv,
    // Run instead of argv for a dry run (e.g. the script with --dry-run).
    dryRunArgv: Argv.optional(),
    cwd: z.string().min(1).optional(),
    env: z
      .object({
        // Names passed through from the bot's environment; nothing else is, but PATH. An entry
        // { name, secret: true } has its value hidden from what the run prints.
        allow: z.array(z.union([EnvName, PassedEnv])).default([]),
        set: z.record(EnvName, Template).default({}),
      })
      .strict()
      .optional(),
    maxOutputBytes: z
      .number()
      .int()
      .min(1024)
      .max(16 * 1024 * 1024)
      .default(DEFAULT_MAX_OUTPUT_BYTES),
  })
  .strict();

export type CommandSettings = z.output<typeof CommandSettingsSchema>;

/** After SIGTERM, how long the process group gets to exit before SIGKILL. */
const KILL_GRACE_MS = 2000;
// Once the group is killed, how long to wait for pipes that something outside it still holds open.
const PIPE_DRAIN_MS = 500;
// After SIGKILL, how long members may still answer (zombies nobody reaps) before the run is reported.
const GONE_LIMIT_MS = 1000;

/**
 * The params that can begin an argv element (`{{target}}`, `{{name}}.yaml`, and in `{{a}}{{b}}` both, as a
 * may be empty), where a value could be an option.
 */
export function commandOptionParams(settings: CommandSettings): string[] {
  return [...settings.argv, ...(settings.dryRunArgv ?? [])].flatMap((arg) =>
    placeholdersIn(LEADING_PLACEHOLDERS.exec(arg)?.[0] ?? ''),
  );
}

const LEADING_PLACEHOLDERS = /^(?:\{\{[a-zA-Z_][a-zA-Z0-9_]*\}\})+/;

export function commandPlaceholders(settings: CommandSettings): string[] {
  return [
    ...settings.argv,
    ...(settings.dryRunArgv ?? []),
    ...Object.values(settings.env?.set ?? {}),
  ].flatMap(placeholdersIn);
}

const passedName = (entry: string | { name: string }) => (typeof entry === 'string' ? entry : entry.name);

/** The env vars marked secret: true, whose values the output must not show. */
export function commandSecretEnv(settings: CommandSettings): string[] {
  return (settings.env?.allow ?? []).flatMap((entry) =>
    typeof entry !== 'string' && entry.secret ? [entry.name] : [],
  );
}

export function createCommandDriver(settings: CommandSettings): Driver {
  return {
    type: 'command',
    run: (run) => runCommand(settings, run),
  };
}

function childEnv(settings: CommandSettings, run: DriverRun): Record<string, string> {
  const env: Record<string, string> = {};
  if (run.env.PATH !== undefined) env.PATH = run.env.PATH;
  for (const name of (settings.env?.allow ?? []).map(passedName)) {
    const value = ownValue(run.env, name);
    if (value !== undefined) env[name] = value;
  }
  for (const [name, template] of Object.entries(settings.env?.set ?? {}))
    env[name] = fill(template, run.params);
  return env;
}

/** Whether any process of the group is still there. */
function groupExists(pid: number): boolean {
  try {
    process.kill(-pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Signals every process in the group; a group that is already gone is fine. */
function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  }
}

function runCommand(settings: CommandSettings, run: DriverRun): Promise<DriverResult> {
  const dryRunArgv = run.dryRun ? settings.dryRunArgv : undefined;
  const [program, ...args] = (dryRunArgv ?? settings.argv).map((arg) => fill(arg, run.params)) as [
    string,
    ...string[],
  ];
  const name = basename(program);
  // Only a run of dryRunArgv is called a dry run: without one, argv ran for real.
  const prefix = dryRunArgv ? 'dry run: ' : '';
  const output = new CappedOutput(settings.maxOutputBytes);
  const deadline = startDeadline(run);

  return new Promise<DriverResult>((resolve) => {
    let done = false;
    let killNow = () => {};
    // A child that fails to start may emit both 'error' and 'close'.
    const finish = (result: Omit<DriverResult, 'output'>) => {
      if (done) return;
      done = true;
      deadline.dispose();
      run.kill?.removeEventListener('abort', killNow);
      resolve({ ...result, output: output.toString() });
    };
    if (deadline.reason()) {
      finish({ ok: false, summary: deadline.reason()! });
      return;
    }
    // detached: the child leads a process group of its own, so a timeout can end its children too.
    const child = spawn(program, args, {
      shell: false,
      detached: true,
      cwd: settings.cwd,
      env: childEnv(settings, run),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.on('data', (chunk: Buffer) => output.write(chunk));
    child.stderr.on('data', (chunk: Buffer) => output.write(chunk));

    // Resolves once nothing of the process group is left: a stopped run is reported only then, so its lock
    // is not given back (nor the bot gone) while some part of it still works on the target.
    let groupGone: Promise<void> = Promise.resolve();
    const stop = () => {
      const pid = child.pid;
      if (pid === undefined) return;
      signalGroup(pid, 'SIGTERM');
      groupGone = (async () => {
        const killAt = Date.now() + KILL_GRACE_MS;
        // Past this, what answers is a zombie nobody reaps (a container without an init): not ours to wait for.
        const giveUpAt = killAt + GONE_LIMIT_MS;
        let killed = false;
        while (groupExists(pid) && Date.now() < giveUpAt) {
          if (!killed && Date.now() >= killAt) {
            signalGroup(pid, 'SIGKILL');
            killed = true;
          }
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        if (!killed) signalGroup(pid, 'SIGKILL');
      })();
      // Pipes that something outside the group still holds open must not keep the run waiting.
      setTimeout(() => {
        child.stdout.destroy();
        child.stderr.destroy();
      }, KILL_GRACE_MS + PIPE_DRAIN_MS).unref();
    };
    deadline.signal.addEventListener('abort', stop, { once: true });
    killNow = () => {
      if (child.pid !== undefined) signalGroup(child.pid, 'SIGKILL');
    };
    run.kill?.addEventListener('abort', killNow, { once: true });

    child.on('error', (err) => {
      finish({ ok: false, summary: `${prefix}${name} could not start: ${err.message}` });
    });
    child.on('close', (code, signal) => {
      const stopped = deadline.reason();
      if (stopped)
        void groupGone.then(() =>
          finish({ ok: false, ...(code !== null && { exitCode: code }), summary: stopped }),
        );
      else if (code === 0) finish({ ok: true, exitCode: 0, summary: `${prefix}${name} exited 0` });
      else {
        const why = lastLine(output.toString());
        const how = code === null ? `was killed by ${signal}` : `exited ${code}`;
        finish({
          ok: false,
          ...(code !== null && { exitCode: code }),
          summary: `${prefix}${name} ${how}${why && `: ${why}`}`,
        });
      }
    });
  });
}
