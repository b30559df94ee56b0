import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type SandboxBot, startSandboxBot } from '../support/sandboxBot.js';

/**
 * The sandbox page in a real browser (Debian's Chromium, driven by playwright-core), used the way a
 * team trying the bot would use it: every click and command goes through the page.
 */

const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
const SAMPLE_MRKDWN =
  '*bold* _italic_ ~gone~ `a<b` <@U0BOB> <#C0PAYMENTS> <!subteam^S0SREONCALL> ' +
  '<https://example.com/x?a=1&amp;b=2|the &lt;docs&gt;> <javascript:alert(1)|bad> snake_case_name\n```x &amp;&amp; y```';
const ARTIFACTS = new URL('../artifacts/', import.meta.url).pathname;
const README = new URL('../../README.md', import.meta.url);

/** A numbered step of the README's walk-through, with the names it tells the reader to look for. */
interface Step {
  text: string;
  /** **Bold**: what the page shows (headings, buttons, labels). */
  bold: string[];
  /** *Italic*: a sample alert's title. */
  italic: string[];
  /** `Code`: what to type, or a name as the page writes it. */
  code: string[];
}

/** The steps under "Try it in the sandbox": the test walks these, so the page cannot drift from them. */
async function readmeSteps(): Promise<Step[]> {
  const readme = await readFile(README, 'utf8');
  const section = readme.slice(readme.indexOf('## Try it in the sandbox'));
  const body = section.slice(0, section.indexOf('\n## ', 3));
  const all = (text: string, pattern: RegExp) => [...text.matchAll(pattern)].map((m) => m[1]!);
  return [...body.matchAll(/^\d+\. (.*(?:\n {3}.*)*)/gm)].map(([, step]) => {
    const text = step!.replace(/\s+/g, ' ');
    return {
      text,
      bold: all(text, /\*\*(.+?)\*\*/g),
      italic: all(text, /(?<!\*)\*([^*]+)\*(?!\*)/g),
      code: all(text, /`([^`]+)`/g),
    };
  });
}
const required = process.env.INCIDENT_BOT_REQUIRE_BROWSER === '1';
const missing = existsSync(CHROMIUM) ? undefined : `${CHROMIUM} is not installed (apt-get install chromium)`;
// Generous: each step waits on the queue, the worker and the page's next poll, never on a fixed delay.
const STEP = { timeout: 30_000 };

describe.skipIf(missing !== undefined && !required)(
  `the sandbox page in Chromium${missing ? ` (skipped: ${missing})` : ''}`,
  () => {
    let bot: SandboxBot;
    let profile: string;
    let browser: BrowserContext;
    let page: Page;
    const pageErrors: string[] = [];

    beforeAll(async () => {
      if (missing) throw new Error(`${missing}, and INCIDENT_BOT_REQUIRE_BROWSER=1 requires it`);
      bot = await startSandboxBot();
      profile = await mkdtemp(join(tmpdir(), 'sandbox-chromium-'));
      browser = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ARGS,
        viewport: { width: 1480, height: 960 },
      });
      page = browser.pages()[0] ?? (await browser.newPage());
      page.on('pageerror', (err) => pageErrors.push(err.message));
      // Only a button's confirm dialog may open, and the README's reader says yes to it.
      page.on('dialog', (dialog) => {
        if (dialog.type() === 'confirm' && dialog.message().includes('silence')) return void dialog.accept();
        pageErrors.push(`a dialog opened: ${dialog.message()}`);
        void dialog.dismiss();
      });
      await page.goto(`${bot.url}/sandbox`);
    }, 120_000);

    afterAll(async () => {
      await browser?.close();
      if (profile) await rm(profile, { recursive: true, force: true });
      await bot?.stop();
    });

    const message = (text: string | RegExp) => page.locator('#messages .message').filter({ hasText: text });
    const threadMessage = (text: string | RegExp) =>
      page.locator('#thread-messages .message').filter({ hasText: text });

    it('says in its guide the steps the README gives, with the same names', async () => {
      const steps = await readmeSteps();
      expect(steps).toHaveLength(7);
      const guide = await page.locator('.guide li').allTextContents();
      expect(guide).toHaveLength(steps.length);
      steps.forEach((step, i) => {
        for (const name of [...step.bold, ...step.italic, ...step.code])
          expect(guide[i], step.text).toContain(name);
      });
    });

    it("walks the README's story: alert, incident, acknowledgement, health check, silence, action, approval, resolution, post-mortem", async () => {
      const [alert, acknowledge, healthCheck, silence, action, approval, resolve] = await readmeSteps();
      expect(await page.locator('#user').inputValue()).toBe('U0ALICE');

      // 1. The sample alert; the page says in words where the incident opened, and takes you there.
      await page.locator('nav h2', { hasText: alert!.bold[0]! }).waitFor(STEP);
      const status = /the (firing|resolved) \*/.exec(alert!.text)![1]!;
      await page.locator(`.sample.${status}`, { hasText: alert!.italic[0]! }).click();
      const [, ref, channel] = /(INC-\d+) opens in #([a-z-]+)/.exec(alert!.text)!;
      const result = page.locator('#sample-result');
      await result.filter({ hasText: `${ref} opened in #${channel}` }).waitFor(STEP);
      await result.getByRole('button', { name: `#${channel}` }).click();
      expect(await page.locator('#channel-name').textContent()).toBe(`# ${channel}`);
      // The message whose header names it: ephemeral answers about it name it too.
      const root = page
        .locator('#messages .message')
        .filter({ has: page.locator('.bk-header', { hasText: ref! }) });
      await root.waitFor(STEP);
      expect(await root.locator('.bk-header').textContent()).toContain(`${ref} · HighLatency`);
      expect(await root.textContent()).toContain('2 firing, 0 resolved');

      // 2. Alice takes the incident: its root says so, and the escalation calls nobody else.
      await root.getByRole('button', { name: acknowledge!.bold[0]! }).click();
      await root.filter({ hasText: new RegExp(`${acknowledge!.italic[0]!} @alice`) }).waitFor(STEP);
      expect(await root.getByRole('button', { name: acknowledge!.bold[0]! }).count()).toBe(0);

      // 3. The playbook's first moves: its auto check's result is in the thread already; a move's button
      // runs that one check.
      const [firstMoves, checkCache] = healthCheck!.bold;
      await root.filter({ hasText: firstMoves! }).waitFor(STEP);
      await root.getByRole('button', { name: /\d+ repl/ }).waitFor(STEP);
      await root.getByRole('button', { name: /\d+ repl/ }).click();
      const auto = threadMessage(/Health checks for INC-\d+ run by the playbook high-latency/);
      await auto.waitFor(STEP);
      expect(await auto.textContent()).toMatch(/✅ health \(http, \d+ ms\)/);
      await root.getByRole('button', { name: checkCache! }).click();
      const cache = threadMessage(/Health checks for INC-\d+ requested/);
      await cache.waitFor(STEP);
      expect(await cache.textContent()).toMatch(/✅ cache \(redis, \d+ ms\)/);
      expect(await cache.textContent()).not.toContain('health (http');

      // 4. The silence: the form proposes the group's matchers; Alertmanager (the stand-in) takes it.
      const [silenceButton, , extend, unsilence] = silence!.bold;
      await root.getByRole('button', { name: silenceButton!, exact: true }).click();
      const form = page.locator('#modal');
      await form.waitFor({ state: 'visible', ...STEP });
      expect(await page.locator('#modal-title').textContent()).toBe(`${silenceButton} ${ref}`);
      expect(await form.locator('select').inputValue()).toBe('1h');
      expect(await form.locator('select option:checked').textContent()).toBe(silence!.italic[0]!);
      expect(await form.locator('textarea').inputValue()).toContain('alertname="HighLatency"');
      await form.locator('.bk-input[data-block-id="reason"] input').fill('Deploying the fix');
      await page.locator('#modal-submit').click();
      await form.waitFor({ state: 'hidden', ...STEP });
      await root.filter({ hasText: '🔕' }).waitFor(STEP);
      await root.getByRole('button', { name: extend! }).waitFor(STEP);
      await root.getByRole('button', { name: unsilence! }).click();
      await root.getByRole('button', { name: silenceButton!, exact: true }).waitFor(STEP);
      expect(await root.textContent()).not.toContain('🔕');

      // 5. Alice asks for more replicas; the approval request, in the thread of the one incident open in
      // the channel, shows the dry run and waits for an approver.
      await root.getByRole('button', { name: action!.bold[0]! }).click();
      await message(/Requested ACT-1: scale on payments-api \(replicas=6\) for INC-1/).waitFor(STEP);
      const request = threadMessage('ACT-1 · scale');
      await request.filter({ hasText: 'scaled (server dry run)' }).waitFor(STEP);
      expect(await request.textContent()).toContain('Waiting for approval');
      expect(await request.textContent()).toContain('/action cancel ACT-1 withdraws it while it waits');
      expect(await request.locator('.mention').allTextContents()).toEqual(['@alice']);
      expect(await request.textContent()).toContain('1 approval from @sre-oncall (not the requester)');
      await request.getByRole('button', { name: 'Approve' }).click();
      await message(/someone else has to approve/).waitFor(STEP);

      // 6. Bob is on call: his approval runs the action.
      const [actingAs, approve] = approval!.bold;
      const person = /switch to (\w+)/.exec(approval!.text)![1]!;
      const options = await page.getByLabel(actingAs!).locator('option').allTextContents();
      await page.getByLabel(actingAs!).selectOption({ label: options.find((o) => o.startsWith(person))! });
      await request.getByRole('button', { name: approve! }).click();
      await request.filter({ hasText: 'Succeeded' }).waitFor(STEP);
      expect(await request.textContent()).toContain('deployment.apps/payments-api scaled');
      expect(await request.getByRole('button', { name: 'Approve' }).count()).toBe(0);
      // What no longer applies is no longer offered.
      expect(await request.textContent()).not.toContain('/action cancel');

      // 7. Resolving through the form; the post-mortem skeleton follows in the thread.
      await root.getByRole('button', { name: resolve!.bold[0]! }).click();
      const modal = page.locator('#modal');
      await modal.waitFor({ state: 'visible', ...STEP });
      expect(await page.locator('#modal-title').textContent()).toBe('Resolve INC-1');
      await page.locator('#modal-submit').click();
      await modal.locator('#modal-blocks .bk-error').waitFor(STEP);
      await modal.locator('textarea').fill('Scaled payments-api to 6 replicas; p99 back under 300 ms.');
      await page.locator('#modal-submit').click();
      await modal.waitFor({ state: 'hidden', ...STEP });
      await root.filter({ hasText: '✅ Resolved' }).waitFor(STEP);
      expect(await root.textContent()).toContain('Scaled payments-api to 6 replicas');

      const file = page.locator('#thread-messages .file');
      await file.waitFor(STEP);
      await file.getByRole('button', { name: 'Show' }).click();
      const content = await file.locator('.file-content').textContent();
      expect(content).toContain('INC-1');
      expect(content).toContain('Scaled payments-api to 6 replicas');
      // The resolution does not ask for the post-mortem that is already here.
      expect(await page.locator('#thread-messages').textContent()).not.toContain('/incident postmortem');

      await mkdir(ARTIFACTS, { recursive: true });
      await page.screenshot({ path: join(ARTIFACTS, 'sandbox-story.png'), fullPage: true });
      expect(pageErrors).toEqual([]);
    });

    it('shows hostile alert text as the characters it is, running nothing', async () => {
      const hostile =
        '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> &amp; &lt;!channel&gt;';
      const res = await fetch(`${bot.url}/alertmanager`, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          authorization: `Bearer ${bot.config.env.ALERTMANAGER_TOKEN}`,
        },
        body: JSON.stringify({
          version: '4',
          groupKey: '{}:{alertname="Hostile"}',
          status: 'firing',
          receiver: 'incident-bot',
          groupLabels: { alertname: 'Hostile' },
          commonLabels: { alertname: 'Hostile', severity: 'critical', service: 'payments-api' },
          commonAnnotations: {},
          externalURL: 'http://alertmanager.example:9093',
          alerts: [
            {
              status: 'firing',
              labels: { alertname: 'Hostile', severity: 'critical', service: 'payments-api' },
              annotations: { summary: hostile, description: '<a href="javascript:alert(1)">click</a>' },
              startsAt: new Date().toISOString(),
              fingerprint: 'hostile0001',
            },
          ],
        }),
      });
      expect(res.status).toBe(200);
      await page.locator('[data-channel-id="C0PAYMENTS"]').click();
      const alert = message('Hostile');
      await alert.filter({ hasText: 'window.__pwned=2</script>' }).waitFor(STEP);
      const text = await alert.textContent();
      expect(text).toContain('<img src=x onerror="window.__pwned=1">');
      expect(text).toContain('&amp; &lt;!channel&gt;');
      expect(text).toContain('<a href="javascript:alert(1)">click</a>');
      expect(
        await page.locator('#messages img, #messages script, #messages a[href^="javascript"]').count(),
      ).toBe(0);
      expect(await page.evaluate('typeof globalThis.__pwned')).toBe('undefined');
      expect(pageErrors).toEqual([]);
    });

    it('draws mrkdwn: styles, code, links, mentions and entities', async () => {
      // A string, so that the test runner leaves the page's own import() alone.
      const html = await page.evaluate(`(async () => {
        const { renderMrkdwn } = await import('/sandbox/mrkdwn.js');
        const box = document.createElement('div');
        const names = { U0BOB: 'bob', C0PAYMENTS: 'payments', S0SREONCALL: 'sre-oncall' };
        const ctx = { userName: (id) => names[id], channelName: (id) => names[id], groupHandle: (id) => names[id] };
        renderMrkdwn(${JSON.stringify(SAMPLE_MRKDWN)}, box, ctx);
        return box.innerHTML;
      })()`);
      expect(html).toBe(
        '<strong>bold</strong> <em>italic</em> <s>gone</s> <code>a&lt;b</code> <span class="mention">@bob</span> ' +
          '<span class="mention">#payments</span> <span class="mention">@sre-oncall</span> ' +
          '<a href="https://example.com/x?a=1&amp;b=2" target="_blank" rel="noopener noreferrer">the &lt;docs&gt;</a> bad snake_case_name\n' +
          '<pre class="code-block">x &amp;&amp; y</pre>',
      );
    });
  },
);
