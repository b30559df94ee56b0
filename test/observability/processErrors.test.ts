import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { startChild, stopChild } from '../support/childWorker.js';
import { waitFor } from '../support/services.js';
import { startTestBot } from '../support/testBot.js';

const ROOT = new URL('../../', import.meta.url).pathname;

/** A process of its own: what is under test is whether that process exits. */
function runScript(script: string) {
  const result = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: ROOT,
    encoding: 'utf8',
    timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

const SETUP = `
import { createLogger } from './src/observability/logger.ts';
import { logUnhandledRejections } from './src/observability/processErrors.ts';
logUnhandledRejections(createLogger('info'));
`;

describe('process-wide errors', () => {
  it('logs a promise rejected with nobody listening, and goes on', () => {
    const run = runScript(`${SETUP}
Promise.reject(new Error('nobody awaited this'));
setTimeout(() => console.log('still running'), 50);`);
    expect(run.status).toBe(0);
    const line = run.stdout.split('\n').find((l) => l.includes('unhandled promise rejection'));
    expect(JSON.parse(line!)).toMatchObject({ level: 50, err: { message: 'nobody awaited this' } });
    expect(run.stdout).toContain('still running');
  });

  it('still ends the process on an exception thrown outside any promise', () => {
    const run = runScript(`${SETUP}
setTimeout(() => { throw new Error('state unknown'); }, 0);
setTimeout(() => console.log('still running'), 200);`);
    expect(run.status).not.toBe(0);
    expect(run.stderr).toContain('state unknown');
    expect(run.stdout).not.toContain('still running');
  });

  it('is how `incident-bot serve` treats one: logged, and the bot goes on answering', async () => {
    const bot = await startTestBot({ worker: false });
    const preload = new URL('../fixtures/reject-on-sigusr2.mjs', import.meta.url).pathname;
    const child = await startChild(bot, ['serve', '--no-worker'], { NODE_OPTIONS: `--import=${preload}` });
    try {
      child.process.kill('SIGUSR2');
      await waitFor(() => child.output().includes('unhandled promise rejection'), 20_000, 'the log line');
      expect((await fetch(`http://127.0.0.1:${child.port}/healthz`)).status).toBe(200);
      expect(child.output()).toContain('a rejection nobody handles');
    } finally {
      await stopChild(child.process, 'SIGKILL');
      await bot.stop();
    }
  });
});
