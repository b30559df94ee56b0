import { type ChildProcess, spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { slackSignatureHeaders } from '../../src/sandbox/slackSigning.js';
import { type SandboxBot, startSandboxBot, statusWithHost } from '../support/sandboxBot.js';
import { createTestDatabase, redisUrl, uniquePrefix, waitFor } from '../support/services.js';
import { startTestBot } from '../support/testBot.js';

/** The sandbox's API without a browser: what the page's requests do, and what they may not do. */

interface State {
  channels: Array<{ id: string; name: string }>;
  messages: Record<string, Array<{ ts: string; text: string; blocks: unknown[]; replies: unknown[] }>>;
  ephemerals: Array<{ channel: string; text: string }>;
  modal?: { id: string; title: { text: string }; errors: Record<string, string> };
  samples: Array<{ id: string; status: string }>;
}

describe('the sandbox API', () => {
  let bot: SandboxBot;
  beforeAll(async () => {
    bot = await startSandboxBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const state = async (user = 'U0ALICE') =>
    (await (await fetch(`${bot.url}/sandbox/api/state?user=${user}`)).json()) as State;
  const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
    fetch(`${bot.url}/sandbox/api/${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
    });
  const lastEphemeral = async (user = 'U0ALICE') => (await state(user)).ephemerals.at(-1)?.text ?? '';

  it('starts with the demo channels and the sample alerts', async () => {
    const first = await state();
    expect(first.channels).toEqual([
      { id: 'C0INCIDENTS', name: 'incidents' },
      { id: 'C0PAYMENTS', name: 'payments' },
    ]);
    expect(first.samples.map((s) => s.id)).toEqual([
      'metasheet-migration-failed.firing',
      'metasheet-migration-failed.resolved',
      'payments-api-latency.firing',
      'payments-api-latency.resolved',
    ]);
  });

  it('signs slash commands so that Bolt takes them, and shows the answer to the one who typed', async () => {
    const res = await post('command', { user: 'U0ALICE', channel: 'C0INCIDENTS', text: '/action help' });
    expect(res.status).toBe(200);
    expect(await lastEphemeral()).toContain('*/action* requests a remediation action');
    expect((await state('U0BOB')).ephemerals).toEqual([]);
    await post('command', { user: 'U0ALICE', channel: 'C0INCIDENTS', text: '/deploy now' });
    expect(await lastEphemeral()).toBe(
      "/deploy is not a valid command. The app's commands: /incident, /action, /health.",
    );
  });

  it('opens modals for the clicker only, and submits them as view_submission', async () => {
    await post('alert', { sample: 'metasheet-migration-failed.firing' });
    const root = await waitFor(async () => (await state()).messages.C0INCIDENTS?.[0], 20_000, 'incident');
    const resolveIndex = root.blocks.findIndex((b) => JSON.stringify(b).includes('incident_resolve'));
    const click = await post('click', {
      user: 'U0ALICE',
      channel: 'C0INCIDENTS',
      ts: root.ts,
      block: resolveIndex,
      actionId: 'incident_resolve',
    });
    expect(click.status).toBe(200);
    const modal = await waitFor(async () => (await state()).modal, 20_000, 'modal');
    expect(modal.title.text).toBe('Resolve INC-1');
    expect((await state('U0BOB')).modal).toBeUndefined();

    const refused = await post('submit', { user: 'U0ALICE', view: modal.id, values: { resolution: null } });
    expect(await refused.json()).toEqual({ errors: { resolution: expect.any(String) } });
    expect((await state()).modal?.errors.resolution).toEqual(expect.any(String));
    const done = await post('submit', {
      user: 'U0ALICE',
      view: modal.id,
      values: { resolution: 'Rolled back migration 048.' },
    });
    expect(await done.json()).toEqual({});
    expect((await state()).modal).toBeUndefined();
    await waitFor(
      async () => JSON.stringify((await state()).messages.C0INCIDENTS?.[0]?.blocks).includes('Rolled back'),
      20_000,
      'resolution on the root message',
    );
  });

  it('refuses clicks on buttons a message does not have, and forms that are not open', async () => {
    const root = (await state()).messages.C0INCIDENTS![0]!;
    const forged = await post('click', {
      user: 'U0ALICE',
      channel: 'C0INCIDENTS',
      ts: root.ts,
      block: 0,
      actionId: 'action_approve',
    });
    expect(forged.status).toBe(404);
    const closed = await post('submit', { user: 'U0ALICE', view: 'V00000001', values: {} });
    expect(closed.status).toBe(404);
  });

  it('refuses bad bodies, strangers, other sites and other host names', async () => {
    const bad = await post('command', { user: 'U0ALICE', channel: 'C0INCIDENTS' });
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { error: string }).error).toMatch(/^text: /);
    expect(
      (await post('command', { user: 'U0MALLORY', channel: 'C0INCIDENTS', text: '/health' })).status,
    ).toBe(400);
    const crossSite = await post(
      'command',
      { user: 'U0ALICE', channel: 'C0INCIDENTS', text: '/health' },
      {
        origin: 'http://evil.example',
      },
    );
    expect(crossSite.status).toBe(403);
    const form = await fetch(`${bot.url}/sandbox/api/command`, {
      method: 'POST',
      headers: { 'content-type': 'text/plain' },
      body: JSON.stringify({ user: 'U0ALICE', channel: 'C0INCIDENTS', text: '/health' }),
    });
    expect(form.status).toBe(415);
    // DNS rebinding: a page from another name that resolves here.
    expect(await statusWithHost(`${bot.url}/sandbox/api/state?user=U0ALICE`, 'evil.example')).toBe(403);
    const expired = await post('respond?key=0123', { text: 'hello' });
    expect(expired.status).toBe(404);
  });

  it('still refuses unsigned and wrongly signed requests to /slack/events', async () => {
    const body = new URLSearchParams({ command: '/action', text: 'help', user_id: 'U0ALICE' }).toString();
    const send = (headers: Record<string, string>) =>
      fetch(`${bot.url}/slack/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
    expect((await send({})).status).toBe(401);
    expect((await send(slackSignatureHeaders('not-the-sandbox-secret', body))).status).toBe(401);
  });

  it('delivers sample alerts with the bearer token, as Alertmanager does', async () => {
    const res = await post('alert', { sample: 'payments-api-latency.firing' });
    expect(await res.json()).toEqual({
      status: 200,
      body: { outcome: 'created', incident: 'INC-2' },
      channel: 'C0PAYMENTS',
    });
    expect((await post('alert', { sample: 'payments-api-latency.firing' })).status).toBe(200);
    const unknown = await post('alert', { sample: 'nope' });
    expect(unknown.status).toBe(404);
  });
});

describe('outside sandbox mode', () => {
  it('has no /sandbox routes', async () => {
    const bot = await startTestBot();
    try {
      for (const path of ['/sandbox', '/sandbox/app.js', '/sandbox/api/state?user=U0ALICE']) {
        expect((await fetch(`${bot.url}${path}`)).status).toBe(404);
      }
      const res = await fetch(`${bot.url}/sandbox/api/command`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'U0ALICE', channel: 'C0PAYMENTS', text: '/health' }),
      });
      expect(res.status).toBe(404);
    } finally {
      await bot.stop();
    }
  });
});

describe('npm start without Slack settings', () => {
  it('runs the sandbox and says so, with the page URL and how to connect a real workspace', async () => {
    const db = await createTestDatabase();
    const tsx = new URL('../../node_modules/.bin/tsx', import.meta.url).pathname;
    const main = new URL('../../src/main.ts', import.meta.url).pathname;
    let child: ChildProcess | undefined;
    try {
      child = spawn(tsx, [main, 'serve'], {
        env: {
          PATH: process.env.PATH ?? '',
          HOME: process.env.HOME ?? '/tmp',
          DATABASE_URL: db.url,
          REDIS_URL: redisUrl(),
          PORT: '0',
          QUEUE_PREFIX: uniquePrefix(),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
        detached: true,
      });
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      child.stderr!.on('data', (chunk: Buffer) => {
        output += chunk.toString();
      });
      const started = await waitFor(() => /incident-bot started/.test(output) && output, 60_000, 'start');
      const line = started.split('\n').find((l) => l.includes('SANDBOX MODE'))!;
      expect(line).toContain('not a real workspace');
      expect(line).toContain(
        'set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, ALERTMANAGER_TOKEN and DATABASE_URL',
      );
      // Which database, Redis and queue prefix it uses, the database's password hidden.
      const fields = JSON.parse(line);
      expect(fields.database).toBe(db.url.replace(/^(postgres:\/\/[^:@/]*:)[^@]*@/, '$1[REDACTED]@'));
      expect(fields.queuePrefix).toMatch(/^ibtest-/);
      const url = /Open (http:\/\/localhost:\d+\/sandbox)/.exec(line)![1]!;
      const page = await fetch(url);
      expect(page.status).toBe(200);
      expect(page.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect(await page.text()).toContain('incident-bot');
      // The made-up secrets stay in the process.
      expect(started).not.toMatch(/xoxb-sandbox-[0-9a-f]/);
    } finally {
      if (child?.pid && child.exitCode === null) {
        const exited = new Promise((resolve) => child!.once('exit', resolve));
        process.kill(-child.pid, 'SIGTERM');
        await exited;
      }
      await db.drop();
    }
  });

  it.each([['worker'], ['migrate'], ['serve', '--no-worker']])(
    'refuses %s: the sandbox lives in the serving process, which migrates its own database',
    async (...args: string[]) => {
      const tsx = new URL('../../node_modules/.bin/tsx', import.meta.url).pathname;
      const main = new URL('../../src/main.ts', import.meta.url).pathname;
      const child = spawn(tsx, [main, ...args], {
        env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', REDIS_URL: redisUrl() },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
      });
      const code = await new Promise((resolve) => child.once('close', resolve));
      expect(code).toBe(78);
      expect(stderr).toContain('SLACK_BOT_TOKEN: required; without it only `serve` runs');
    },
  );
});
