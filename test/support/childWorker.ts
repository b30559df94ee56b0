import { type ChildProcess, spawn } from 'node:child_process';
import type { TestBot } from './testBot.js';

const ROOT = new URL('../../', import.meta.url).pathname;
const MAIN = new URL('../../src/main.ts', import.meta.url).pathname;

export interface ChildBot {
  process: ChildProcess;
  /** The port it listens on: HTTP for `serve`, health and metrics for `worker`. */
  port: number;
  /** Everything it has written so far, stdout and stderr. */
  output(): string;
  /** Its exit code once it has exited. */
  exited: Promise<number | null>;
}

/** `incident-bot <args>` as its own process, sharing the test bot's database, Redis prefix and Slack. */
export function startChild(
  bot: TestBot,
  args: string[],
  extraEnv: Record<string, string> = {},
): Promise<ChildBot> {
  return startCli(args, { ...bot.env, LOG_LEVEL: 'info', ...extraEnv });
}

/** `incident-bot <args>` as its own process with only `env`, once it says it has started. */
export async function startCli(args: string[], env: Record<string, string>): Promise<ChildBot> {
  // One process, node with tsx's loader: the tsx command would stand between the test and the bot and
  // relay signals itself, SIGKILLing a bot that is slow to answer its relay.
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // A process group of its own, which stopChild and the tests signal.
    detached: true,
  });
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const port = await new Promise<number>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const started = /"port":(\d+)[^\n]*"msg":"incident-bot started"/.exec(output);
      if (started) resolve(Number(started[1]));
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
    });
    exited.then((code) => reject(new Error(`${args[0]} exited with ${code}: ${output.slice(-2000)}`)));
  });
  return { process: child, port, output: () => output, exited };
}

/** `incident-bot worker` as its own process. */
export async function startChildWorker(
  bot: TestBot,
  extraEnv: Record<string, string> = {},
): Promise<ChildProcess> {
  return (await startChild(bot, ['worker'], extraEnv)).process;
}

export async function stopChild(child: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  process.kill(-child.pid!, signal);
  await exited;
}
