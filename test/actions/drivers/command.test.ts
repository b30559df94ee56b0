import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CommandSettingsSchema } from '../../../src/actions/drivers/command.js';
import type { DriverRun } from '../../../src/actions/drivers/driver.js';
import { createDriver, optionParamsOf, placeholdersOf } from '../../../src/actions/drivers/index.js';
import { waitFor } from '../../support/services.js';

const SCRIPT = join(import.meta.dirname, '../../fixtures/drivers/record-run.mjs');

let dir: string;
let recordFile: string;
beforeAll(async () => {
  // git keeps the executable bit, but a checkout under some umasks or tools may not.
  await chmod(SCRIPT, 0o755);
  dir = await mkdtemp(join(tmpdir(), 'command-driver-'));
  recordFile = join(dir, 'runs.jsonl');
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Recorded {
  argv: string[];
  env: Record<string, string>;
}
async function lastRecorded(): Promise<Recorded> {
  const lines = (await readFile(recordFile, 'utf8')).trim().split('\n');
  return JSON.parse(lines.at(-1)!);
}

function commandDriver(settings: Record<string, unknown>) {
  return createDriver(CommandSettingsSchema.parse({ type: 'command', ...settings }));
}

function runOf(overrides: Partial<DriverRun> = {}): DriverRun {
  return {
    params: {},
    dryRun: false,
    timeoutMs: 10_000,
    signal: new AbortController().signal,
    env: { PATH: process.env.PATH },
    secrets: [],
    ...overrides,
  };
}

/** Alive and not a zombie: an orphan's zombie lingers until whoever adopted it reaps it. */
async function isRunning(pid: number): Promise<boolean> {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  return stat !== '' && !/^\d+ \(.*\) Z/.test(stat);
}

describe('command driver', () => {
  it('passes each param as one literal argv element, shell metacharacters and all', async () => {
    const reason = 'a; rm -rf / && $(id) `id` | cat > /tmp/x "q" \'q\' *';
    const driver = commandDriver({
      argv: [SCRIPT, 'restart', '--reason', '{{reason}}', 'svc-{{service}}', '--replicas={{replicas}}'],
      env: { set: { RECORD_FILE: recordFile } },
    });
    const result = await driver.run(runOf({ params: { reason, service: 'payments', replicas: 6 } }));

    expect(result).toMatchObject({ ok: true, exitCode: 0, summary: 'record-run.mjs exited 0' });
    expect((await lastRecorded()).argv).toEqual([
      'restart',
      '--reason',
      reason,
      'svc-payments',
      '--replicas=6',
    ]);
    expect(result.output).toBe(`done: restart --reason ${reason} svc-payments --replicas=6\n`);
  });

  it('passes only allow-listed env vars, the ones it sets, and PATH', async () => {
    const driver = commandDriver({
      argv: [SCRIPT],
      env: {
        allow: ['DEPLOY_ENV', 'NOT_SET_ANYWHERE'],
        set: { RECORD_FILE: recordFile, REASON: 'by {{who}}' },
      },
    });
    const env = {
      PATH: process.env.PATH,
      DEPLOY_ENV: 'prod',
      SLACK_BOT_TOKEN: 'xoxb-secret',
      DATABASE_URL: 'postgres://x',
    };
    expect((await driver.run(runOf({ env, params: { who: 'alice' } }))).ok).toBe(true);

    const recorded = (await lastRecorded()).env;
    expect(Object.keys(recorded).sort()).toEqual(['DEPLOY_ENV', 'PATH', 'REASON', 'RECORD_FILE']);
    expect(recorded).toMatchObject({ DEPLOY_ENV: 'prod', REASON: 'by alice' });
  });

  it('passes env vars marked secret: true, hiding their values and the bot secrets from what it answers', async () => {
    const token = 'dpl_live_0123456789abcdef';
    const driver = commandDriver({
      argv: [
        process.execPath,
        '-e',
        'console.log(process.env.DEPLOY_TOKEN, process.env.DEPLOY_ENV, process.argv[1]); process.exit(1)',
        'xoxb-the-bots-own-token',
      ],
      env: { allow: ['DEPLOY_ENV', { name: 'DEPLOY_TOKEN', secret: true }] },
    });
    const result = await driver.run(
      runOf({ env: { DEPLOY_TOKEN: token, DEPLOY_ENV: 'prod' }, secrets: ['xoxb-the-bots-own-token'] }),
    );
    expect(result).toMatchObject({
      output: '[redacted] prod [redacted]\n',
      summary: `${basename(process.execPath)} exited 1: [redacted] prod [redacted]`,
    });
  });

  it('passes no env var that only Object.prototype has, like constructor', async () => {
    const driver = commandDriver({
      argv: [SCRIPT],
      env: { allow: ['constructor', 'toString'], set: { RECORD_FILE: recordFile } },
    });
    expect((await driver.run(runOf())).ok).toBe(true);
    expect(Object.keys((await lastRecorded()).env).sort()).toEqual(['PATH', 'RECORD_FILE']);
  });

  it('runs dryRunArgv for a dry run, and argv (not called a dry run) when there is none', async () => {
    const settings = { argv: [SCRIPT, 'rollback'], env: { set: { RECORD_FILE: recordFile } } };
    const dry = await commandDriver({ ...settings, dryRunArgv: [SCRIPT, 'rollback', '--dry-run'] }).run(
      runOf({ dryRun: true }),
    );
    expect(dry.summary).toBe('dry run: record-run.mjs exited 0');
    expect((await lastRecorded()).argv).toEqual(['rollback', '--dry-run']);

    const real = await commandDriver(settings).run(runOf({ dryRun: true }));
    expect(real.summary).toBe('record-run.mjs exited 0');
    expect((await lastRecorded()).argv).toEqual(['rollback']);
  });

  it('reports a non-zero exit with its code and the last line of output', async () => {
    const result = await commandDriver({ argv: [SCRIPT], env: { set: { MODE: 'fail' } } }).run(runOf());
    expect(result).toMatchObject({
      ok: false,
      exitCode: 3,
      summary: 'record-run.mjs exited 3: something broke',
    });
    expect(result.output).toBe('starting\nsomething broke\n');
  });

  it('kills the whole process group on timeout, grandchildren included', async () => {
    const pidFile = join(dir, 'grandchild.pid');
    const driver = commandDriver({ argv: [SCRIPT], env: { set: { MODE: 'hang', PID_FILE: pidFile } } });
    const started = Date.now();
    const result = await driver.run(runOf({ timeoutMs: 1000 }));

    expect(result).toMatchObject({ ok: false, summary: 'timed out after 1000 ms', output: 'waiting\n' });
    expect(Date.now() - started).toBeLessThan(5000);
    const grandchild = Number(await readFile(pidFile, 'utf8'));
    await waitFor(async () => !(await isRunning(grandchild)), 5000, `sleep (pid ${grandchild}) to die`);
  });

  it('stops on abort, reporting cancelled', async () => {
    const pidFile = join(dir, 'aborted.pid');
    const controller = new AbortController();
    const running = commandDriver({ argv: [SCRIPT], env: { set: { MODE: 'hang', PID_FILE: pidFile } } }).run(
      runOf({ signal: controller.signal }),
    );
    const grandchild = Number(
      await waitFor(() => readFile(pidFile, 'utf8').catch(() => undefined), 5000, 'the pid file'),
    );
    controller.abort();
    expect(await running).toMatchObject({ ok: false, summary: 'cancelled' });
    await waitFor(async () => !(await isRunning(grandchild)), 5000, `sleep (pid ${grandchild}) to die`);
  });

  /** A run of MODE stubborn, once its grandchild (which ignores SIGTERM) is running. */
  async function stubbornRun(run: Partial<DriverRun>) {
    const pidFile = join(dir, `stubborn-${Math.random()}.pid`);
    const running = commandDriver({
      argv: [SCRIPT],
      env: { set: { MODE: 'stubborn', PID_FILE: pidFile } },
    }).run(runOf(run));
    const grandchild = Number(
      await waitFor(() => readFile(pidFile, 'utf8').catch(() => undefined), 5000, 'the pid file'),
    );
    return { running, grandchild };
  }

  it('reports a stopped run only once its whole group is gone, a part that ignores SIGTERM included', async () => {
    const controller = new AbortController();
    const { running, grandchild } = await stubbornRun({ signal: controller.signal });
    controller.abort();
    expect(await running).toMatchObject({ ok: false, summary: 'cancelled' });
    // Reported: so nothing of it may still be at work on the target.
    expect(await isRunning(grandchild)).toBe(false);
  });

  it('ends the whole group at once on kill, without the grace a stop gives', async () => {
    const stop = new AbortController();
    const kill = new AbortController();
    const { running, grandchild } = await stubbornRun({ signal: stop.signal, kill: kill.signal });
    const killedAt = Date.now();
    kill.abort();
    stop.abort();
    await waitFor(async () => !(await isRunning(grandchild)), 1000, 'the stubborn grandchild to die');
    expect(Date.now() - killedAt).toBeLessThan(1000);
    await running;
  });

  it('caps the output, keeping its beginning and its end', async () => {
    const result = await commandDriver({
      argv: [SCRIPT],
      env: { set: { MODE: 'spam' } },
      maxOutputBytes: 4096,
    }).run(runOf());
    expect(result.ok).toBe(true);
    expect(result.output).toMatch(/^x{1023}\n/);
    expect(result.output).toMatch(/\n…\[truncated \d+ bytes\]…\n/);
    expect(result.output.endsWith('END OF OUTPUT\n')).toBe(true);
    expect(Buffer.byteLength(result.output)).toBeLessThan(4096 + 50);
    const dropped = Number(/truncated (\d+) bytes/.exec(result.output)![1]);
    expect(dropped).toBe(200 * 1024 + 'END OF OUTPUT\n'.length - 4096);
  });

  it('reports a program that cannot start', async () => {
    const result = await commandDriver({ argv: [join(dir, 'no-such-program')] }).run(runOf());
    expect(result.ok).toBe(false);
    expect(result.summary).toMatch(/^no-such-program could not start: .*ENOENT/);
  });

  it('refuses a param in the program position and mistyped placeholders, and lists the ones used', () => {
    const problems = (settings: Record<string, unknown>) =>
      CommandSettingsSchema.safeParse({ type: 'command', ...settings }).error?.issues.map((i) => i.message);
    expect(problems({ argv: ['{{program}}', 'x'] })).toEqual([
      'argv[0] is the program and takes no {{placeholder}}',
    ]);
    expect(problems({ argv: ['/bin/echo', '{{ replicas }}'] })).toEqual([
      'expected placeholders written {{name}}, with a name like replicas',
    ]);
    expect(problems({ argv: [] })).toHaveLength(1);
    expect(problems({ argv: ['/bin/true'], shell: true })).toHaveLength(1);

    const settings = CommandSettingsSchema.parse({
      type: 'command',
      argv: ['/bin/scale', '{{service}}', '--to={{replicas}}'],
      dryRunArgv: ['/bin/scale', '{{service}}', '--dry-run'],
      env: { set: { REASON: '{{reason}}' } },
    });
    expect(placeholdersOf(settings)).toEqual(['service', 'replicas', 'reason']);
    // Only a param that begins an argument can make it an option.
    expect(optionParamsOf(settings)).toEqual(['service']);
    // Or follows only params there: {{a}}{{b}} with a empty begins with b.
    expect(
      optionParamsOf(
        CommandSettingsSchema.parse({ type: 'command', argv: ['/bin/run', '{{a}}{{b}}x{{c}}'] }),
      ),
    ).toEqual(['a', 'b']);
  });
});
