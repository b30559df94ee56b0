import { mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MAX_ALERTS_SHOWN } from '../../src/alerts/configSchema.js';
import { loadTemplates } from '../../src/app.js';
import { parseEnv } from '../../src/config/env.js';
import { parseFileConfig } from '../../src/config/file.js';
import type { Config } from '../../src/config/index.js';
import type { AlertRow, IncidentSnapshot } from '../../src/incidents/incidentStore.js';
import { BLOCK_KIT_LIMITS } from '../../src/render/blockKit.js';
import { escapeMrkdwn } from '../../src/render/mrkdwn.js';
import { BUILTIN_TEMPLATES_DIR, TemplateError, TemplateSet } from '../../src/render/templates.js';
import { healthView } from '../../src/views/health.js';
import { MAX_PLAYBOOK_MOVES, rootView } from '../../src/views/incident.js';
import { worstCaseViews } from '../../src/views/samples.js';
import { incidentRow } from '../support/incidents.js';

/** Every built-in template but the partials, named without `.hbs`. */
const BUILTIN_NAMES = (await readdir(BUILTIN_TEMPLATES_DIR))
  .filter((n) => n.endsWith('.hbs') && !n.startsWith('_'))
  .map((n) => n.slice(0, -'.hbs'.length))
  .sort();

/** A temporary overrides directory holding the given files. */
async function overridesDir(files: Record<string, string>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'incident-bot-templates-'));
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return dir;
}

/** An incident-thread override whose message text and one section are both `body`. */
const sectionTemplate = (body: string) =>
  `{"text": "fallback", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "${body}"}}]}`;

/** Renders `body` inside a section of an override and returns the section's text. */
async function renderSection(body: string, view: object): Promise<string> {
  const set = await TemplateSet.load(await overridesDir({ 'incident-thread.hbs': sectionTemplate(body) }));
  const message = set.renderMessage('incident-thread', view);
  return (message.blocks[0]!.text as { text: string }).text;
}

async function loadError(files: Record<string, string>): Promise<{ dir: string; error: TemplateError }> {
  const dir = await overridesDir(files);
  try {
    await TemplateSet.load(dir);
  } catch (err) {
    if (err instanceof TemplateError) return { dir, error: err };
    throw err;
  }
  throw new Error('expected TemplateSet.load to throw a TemplateError');
}

function alertRow(overrides: Partial<AlertRow> = {}): AlertRow {
  return {
    fingerprint: 'f1',
    status: 'firing',
    alertname: 'CheckoutErrors',
    severity: 'P0',
    labels: { alertname: 'CheckoutErrors', severity: 'critical', instance: 'pod-1' },
    annotations: { summary: 'Error rate above 5%' },
    startsAt: new Date('2026-01-01T00:00:00Z'),
    endsAt: null,
    generatorUrl: 'https://prometheus.example.com/graph?g0.expr=rate(errors[5m])',
    ...overrides,
  };
}

function snapshot(alerts: AlertRow[]): IncidentSnapshot {
  return {
    incident: incidentRow({
      title: 'CheckoutErrors: Error rate above 5%',
      severity: 'P0',
      externalUrl: 'https://alertmanager.example.com',
    }),
    roles: {},
    degradations: [],
    firing: alerts.filter((a) => a.status === 'firing').length,
    resolved: alerts.filter((a) => a.status === 'resolved').length,
    alerts,
  };
}

describe('TemplateSet.load', () => {
  it('loads the built-in templates, with partials kept out of the names', async () => {
    const set = await TemplateSet.load();
    expect(set.names().sort()).toEqual(BUILTIN_NAMES);
    expect(BUILTIN_NAMES).toEqual(
      expect.arrayContaining(['incident-root', 'incident-thread', 'postmortem.md']),
    );
    expect(set.names()).not.toContain('alert');
  });

  it('renders the built-in root template for a real incident', async () => {
    const set = await TemplateSet.load();
    const message = set.renderMessage('incident-root', rootView(snapshot([alertRow()])));
    expect(message.text).toBe('🔴 [P0] INC-42 · CheckoutErrors: Error rate above 5%: 1 firing, 0 resolved');
    expect(message.blocks[0]).toEqual({
      type: 'header',
      text: { type: 'plain_text', text: '🔴 [P0] INC-42 · CheckoutErrors: Error rate above 5%', emoji: true },
    });
  });

  it('uses an override in place of the built-in of the same name', async () => {
    const set = await TemplateSet.load(
      await overridesDir({ 'incident-thread.hbs': sectionTemplate('custom') }),
    );
    expect(set.renderMessage('incident-thread', {})).toEqual({
      text: 'fallback',
      blocks: [{ type: 'section', text: { type: 'mrkdwn', text: 'custom' } }],
    });
  });

  it('uses an overridden partial in the built-in templates', async () => {
    const dir = await overridesDir({
      '_alert.hbs': '{"type": "section", "text": {"type": "mrkdwn", "text": "custom alert {{alertname}}"}}',
    });
    const message = (await TemplateSet.load(dir)).renderMessage(
      'incident-root',
      rootView(snapshot([alertRow()])),
    );
    expect(message.blocks[3]).toEqual({
      type: 'section',
      text: { type: 'mrkdwn', text: 'custom alert CheckoutErrors' },
    });
  });

  it('ignores files that are not .hbs', async () => {
    const set = await TemplateSet.load(await overridesDir({ 'README.md': '{{{not a template}}}' }));
    expect(set.names().sort()).toEqual(BUILTIN_NAMES);
  });

  it('refuses an override with an unknown name, listing the known ones', async () => {
    const { dir, error } = await loadError({ 'incident-rooot.hbs': sectionTemplate('x') });
    expect(error.message).toMatch(
      new RegExp(
        `^${join(dir, 'incident-rooot.hbs')}: no built-in template has this name \\(expected one of `,
      ),
    );
    for (const name of ['_alert.hbs', 'incident-root.hbs', 'incident-thread.hbs']) {
      expect(error.message).toContain(name);
    }
  });

  it('names the directory when it cannot be read', async () => {
    await expect(TemplateSet.load('/nonexistent/templates')).rejects.toThrow(
      new TemplateError('/nonexistent/templates: cannot read templates directory (ENOENT)'),
    );
  });

  it('fails on a Handlebars syntax error, naming the file', async () => {
    const { dir, error } = await loadError({ 'incident-thread.hbs': sectionTemplate('{{#if firing}}open') });
    expect(error.message).toBe(`${join(dir, 'incident-thread.hbs')}: Parse error on line 1:`);
    expect(error.code).toBe('TEMPLATE_INVALID');
  });

  it('fails on mismatched blocks, naming the file', async () => {
    const { dir, error } = await loadError({ 'incident-thread.hbs': sectionTemplate('{{#if a}}x{{/each}}') });
    expect(error.message.startsWith(`${join(dir, 'incident-thread.hbs')}: `)).toBe(true);
    expect(error.message).toMatch(/: if doesn't match each - 1:\d+$/);
  });
});

describe('triple-stash', () => {
  it('is refused with file:line', async () => {
    const { dir, error } = await loadError({
      'incident-thread.hbs':
        '{\n  "text": "x",\n  "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "{{{summary}}}"}}]\n}',
    });
    expect(error.message).toBe(
      `${join(dir, 'incident-thread.hbs')}:3: triple-stash {{{…}}} is not allowed: values must be escaped for Slack`,
    );
  });

  it('is refused inside blocks, else branches and partials too', async () => {
    const nested = '{"text": "x",\n"blocks": [{{#each alerts}}{{#if a}}{{else}}\n{{{b}}}{{/if}}{{/each}}]}';
    expect((await loadError({ 'incident-root.hbs': nested })).error.message).toMatch(
      /incident-root\.hbs:3: /,
    );
    expect((await loadError({ '_alert.hbs': '\n{{{summary}}}' })).error.message).toMatch(/_alert\.hbs:2: /);
  });

  it('is refused in its {{& …}} form as well', async () => {
    const { error } = await loadError({ 'incident-thread.hbs': sectionTemplate('{{& summary}}') });
    expect(error.message).toMatch(/incident-thread\.hbs:1: triple-stash/);
  });

  // Regression test for a bug found in review.
  it('cannot be bypassed through the fallback content of a partial block', async () => {
    const dir = await overridesDir({
      'incident-thread.hbs': sectionTemplate('{{#> missing}}{{x}}{{/missing}}'),
    });
    let text: string;
    try {
      const message = (await TemplateSet.load(dir)).renderMessage('incident-thread', { x: '<!channel>' });
      text = (message.blocks[0]!.text as { text: string }).text;
    } catch (err) {
      expect(err).toBeInstanceOf(TemplateError); // refusing the construct at load would also be a fix
      return;
    }
    expect(text).toBe('&lt;!channel&gt;');
  });
});

describe('{{value}} output', () => {
  it('is escaped for Slack: only &, < and >', async () => {
    expect(await renderSection('{{v}}', { v: '<!channel> & <https://evil|click> *bold*' })).toBe(
      '&lt;!channel&gt; &amp; &lt;https://evil|click&gt; *bold*',
    );
  });

  it('stays valid JSON whatever the value holds', async () => {
    const nasty = 'say "hi" \\ C:\\temp\\new\nline\ttab\r\u0001 \u2028 }]} {{x}} 😀';
    expect(await renderSection('{{v}}', { v: nasty })).toBe(nasty);
    expect(await renderSection('before {{v}} after', { v: '", "injected": "' })).toBe(
      'before ", "injected": " after',
    );
  });

  it('stays valid JSON for each character JSON escapes, alone in its value', async () => {
    const escaped = Array.from({ length: 0x10000 }, (_, code) => String.fromCharCode(code)).filter(
      (char) => JSON.stringify(char) !== `"${char}"`,
    );
    // In sections of 500, under Slack's 3,000 characters of text.
    for (let at = 0; at < escaped.length; at += 500) {
      const values = escaped.slice(at, at + 500).map((char) => `a${char}`);
      expect(await renderSection('{{#each vs}}{{this}}|{{/each}}', { vs: values })).toBe(
        values.map((value) => `${escapeMrkdwn(value)}|`).join(''),
      );
    }
  });

  it('does not evaluate Handlebars syntax inside values', async () => {
    expect(await renderSection('{{v}}', { v: '{{#each x}}{{/each}}' })).toBe('{{#each x}}{{/each}}');
  });

  it('escapes nested paths, loop items and helper results alike', async () => {
    const view = { a: { b: 'x<y' }, list: ['1&2', '"3"'], n: 2, word: '<w>' };
    expect(await renderSection('{{a.b}}|{{#each list}}{{this}};{{/each}}|{{plural n word}}', view)).toBe(
      'x&lt;y|1&amp;2;"3";|2 &lt;w&gt;s',
    );
  });

  it('renders numbers and booleans, and nothing for null or undefined', async () => {
    expect(
      await renderSection('{{n}} {{zero}} {{yes}} [{{nil}}] [{{missing}}]', {
        n: 3,
        zero: 0,
        yes: true,
        nil: null,
      }),
    ).toBe('3 0 true [] []');
  });

  it('escapes alert text in the built-in templates', async () => {
    const alert = alertRow({ annotations: { summary: '<!channel> "quoted" & \\ back' } });
    const message = (await TemplateSet.load()).renderMessage('incident-root', rootView(snapshot([alert])));
    expect((message.blocks[3]!.text as { text: string }).text).toContain(
      `— ${escapeMrkdwn('<!channel> "quoted" & \\ back')}`,
    );
  });
});

describe('helpers', () => {
  it('{{typed text}} keeps what a person typed live, but no @here, and stays valid JSON', async () => {
    expect(
      await renderSection('{{typed v}}', {
        v: 'ask <@U0BOB|bob> "now" <https://ex.com/?a=1&b=2|graph> <!here> <b>',
      }),
    ).toBe('ask <@U0BOB> "now" <https://ex.com/?a=1&amp;b=2> @here &lt;b&gt;');
    expect(await renderSection('[{{typed v}}]', {})).toBe('[]');
  });

  describe('{{link url "label"}}', () => {
    it.each([
      ['https://grafana.example.com/d/abc', '<https://grafana.example.com/d/abc|Graph>'],
      ['http://prometheus:9090/graph', '<http://prometheus:9090/graph|Graph>'],
    ])('links the http(s) URL %s', async (url, expected) => {
      expect(await renderSection('{{link url "Graph"}}', { url })).toBe(expected);
    });

    it.each([
      'javascript:alert(1)',
      'mailto:oncall@example.com',
      'ftp://files.example.com/x',
      'slack://open',
      '/relative/path',
      'not a url',
      '',
    ])('shows only the label for %j', async (url) => {
      expect(await renderSection('{{link url "Graph"}}', { url })).toBe('Graph');
    });

    it('shows only the label for a non-string or a URL over 2000 characters', async () => {
      expect(await renderSection('{{link url "Graph"}}', { url: 42 })).toBe('Graph');
      expect(await renderSection('{{link url "Graph"}}', {})).toBe('Graph');
      const long = `https://example.com/${'a'.repeat(1981)}`;
      expect(await renderSection('{{link url "Graph"}}', { url: long })).toBe('Graph');
    });

    it('encodes |, < and > in the URL and escapes & for Slack', async () => {
      expect(
        await renderSection('{{link url "Graph"}}', { url: 'https://ex.com/p|q<r>s?x=1&y=a|b#f|g' }),
      ).toBe('<https://ex.com/p%7Cq%3Cr%3Es?x=1&amp;y=a%7Cb#f%7Cg|Graph>');
    });

    it('keeps a crafted URL from closing the link or adding a mention', async () => {
      const out = await renderSection('{{link url "Graph"}}', { url: 'https://ex.com/x|<!channel>' });
      expect(out).toBe('<https://ex.com/x%7C%3C!channel%3E|Graph>');
    });

    it('escapes the label', async () => {
      expect(await renderSection('{{link url label}}', { url: 'https://ex.com', label: '<b> & "c"' })).toBe(
        '<https://ex.com/|&lt;b&gt; &amp; "c">',
      );
      expect(await renderSection('{{link url label}}', { url: 'javascript:x', label: '<!here>' })).toBe(
        '&lt;!here&gt;',
      );
    });

    // Regression test for a bug found in review.
    it('uses the URL as the label when none is given', async () => {
      expect(await renderSection('{{link url}}', { url: 'https://ex.com/a' })).toBe(
        '<https://ex.com/a|https://ex.com/a>',
      );
    });
  });

  describe('{{date iso}}', () => {
    it('produces a Slack date token with a UTC fallback', async () => {
      expect(await renderSection('{{date t}}', { t: '2026-03-04T05:06:07Z' })).toBe(
        '<!date^1772600767^{date_short_pretty} {time}|2026-03-04 05:06 UTC>',
      );
    });

    it('converts offsets to UTC and accepts Date objects', async () => {
      const expected = '<!date^1772600767^{date_short_pretty} {time}|2026-03-04 05:06 UTC>';
      expect(await renderSection('{{date t}}', { t: '2026-03-04T07:06:07+02:00' })).toBe(expected);
      expect(await renderSection('{{date t}}', { t: new Date('2026-03-04T05:06:07.999Z') })).toBe(expected);
    });

    it('renders nothing for a missing, invalid or numeric value', async () => {
      expect(await renderSection('[{{date t}}]', {})).toBe('[]');
      expect(await renderSection('[{{date t}}]', { t: 'yesterday' })).toBe('[]');
      expect(await renderSection('[{{date t}}]', { t: 1772600767000 })).toBe('[]');
    });
  });

  it('{{plural n "word"}} picks the singular only for 1, and takes an explicit plural', async () => {
    expect(
      await renderSection('{{plural a "alert"}}, {{plural b "alert"}}, {{plural c "alert"}}', {
        a: 0,
        b: 1,
        c: 2,
      }),
    ).toBe('0 alerts, 1 alert, 2 alerts');
    expect(await renderSection('{{plural n "box" "boxes"}}', { n: 3 })).toBe('3 boxes');
  });

  it('{{eq a b}} compares strictly', async () => {
    const body = '{{#if (eq a b)}}same{{else}}different{{/if}}';
    expect(await renderSection(body, { a: 'P0', b: 'P0' })).toBe('same');
    expect(await renderSection(body, { a: 1, b: '1' })).toBe('different');
  });
});

describe('renderMessage', () => {
  it('refuses an unknown template name', async () => {
    const set = await TemplateSet.load();
    expect(() => set.renderMessage('incident-nope', {})).toThrow(
      new TemplateError('no template named incident-nope'),
    );
  });

  it('fails with the file name when an override renders invalid JSON', async () => {
    const dir = await overridesDir({ 'incident-thread.hbs': '{"text": "x", "blocks": [}' });
    const set = await TemplateSet.load(dir);
    expect(() => set.renderMessage('incident-thread', {})).toThrow(
      new RegExp(`^${join(dir, 'incident-thread.hbs')}: does not render valid JSON: `),
    );
  });

  it('fails with the file name when an override breaks a Block Kit limit', async () => {
    const dir = await overridesDir({
      'incident-thread.hbs':
        '{"text": "x", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "{{title}}"}}]}',
    });
    const set = await TemplateSet.load(dir);
    expect(set.renderMessage('incident-thread', { title: 'short' }).blocks).toHaveLength(1);
    // Escaping counts: 50 × '&' is 250 characters once escaped.
    expect(() => set.renderMessage('incident-thread', { title: '&'.repeat(50) })).toThrow(
      new TemplateError(
        `${join(dir, 'incident-thread.hbs')}: blocks[0].text.text: must be at most 150 characters, is 250`,
      ),
    );
  });

  it('requires a fallback text and reports every problem in one line', async () => {
    const dir = await overridesDir({
      'incident-thread.hbs': '{"text": "{{missing}}", "blocks": [{"type": "section"}, {"type": "image"}]}',
    });
    const set = await TemplateSet.load(dir);
    expect(() => set.renderMessage('incident-thread', {})).toThrow(
      new TemplateError(
        `${join(dir, 'incident-thread.hbs')}: text: expected a fallback text; blocks[0]: needs text or fields; blocks[1].type: unsupported block type "image"`,
      ),
    );
  });

  // Regression test for a bug found in review.
  it('renders an alert whose generator URL grows when encoded', async () => {
    const set = await TemplateSet.load();
    const alert = alertRow({ generatorUrl: `https://example.com/${'é'.repeat(1000)}` });
    expect(() => set.renderMessage('incident-root', rootView(snapshot([alert])))).not.toThrow();
  });
});

describe('loadTemplates (start-time check with worst-case views)', () => {
  function config(templatesDir: string | undefined, maxAlertsShown: number): Config {
    return {
      env: parseEnv({
        SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdef',
        SLACK_SIGNING_SECRET: '0123456789abcdef',
        DATABASE_URL: 'postgres://bot@db:5432/incident_bot',
        ALERTMANAGER_TOKEN: 'am-token-0123456789',
        TEMPLATES_DIR: templatesDir,
      }),
      file: parseFileConfig(
        'test.yml',
        `slack:\n  defaultChannel: C0123ABCD\nalerts:\n  maxAlertsShown: ${maxAlertsShown}\n`,
      ),
      pagerSecrets: {},
    };
  }

  it.each([1, 10, 20])('passes for the built-in templates with maxAlertsShown %i', async (max) => {
    const set = await loadTemplates(config(undefined, max));
    expect(set.names().sort()).toEqual(BUILTIN_NAMES);
  });

  it("tells a storm's other incident plainly that the playbook's checks did not run there, and where they did", async () => {
    const set = await TemplateSet.load();
    const covered = healthView(
      {
        playbook: 'service-down',
        covered: {
          service: 'payments-api',
          incidentId: 7,
          at: new Date('2026-01-01T00:00:00Z'),
          oncePerMs: 600_000,
        },
      },
      [],
      8,
    );
    const text = (set.renderMessage('health-result', covered).blocks[0]!.text as { text: string }).text;
    expect(text).toMatch(
      /^\*Health checks\* for INC-8 \(playbook _service-down_\): not run again for \*payments-api\*: they ran for INC-7 <!date\^\d+\^[^>]+> \(once per 10 min in a storm\)\. Their results are in INC-7's thread\.$/,
    );
  });

  it('renders the largest root with a playbook: an open incident, its 10 moves beside 20 alerts, degradations, a silence and every button', async () => {
    const set = await TemplateSet.load();
    const root = set.renderMessage('incident-root', worstCaseViews(MAX_ALERTS_SHOWN)['incident-root']!);
    const moves = root.blocks.find((b) => b.block_id === 'playbook_moves') as
      | { elements: unknown[] }
      | undefined;
    expect(moves?.elements).toHaveLength(MAX_PLAYBOOK_MOVES);
    expect(root.blocks.length).toBeLessThanOrEqual(BLOCK_KIT_LIMITS.blocks);
    // The alerts that make room are counted as not shown.
    expect(JSON.stringify(root.blocks)).toMatch(/…and \d+ more alert/);
  });

  it('fails at start, naming the file, for an override that only breaks limits with long content', async () => {
    const dir = await overridesDir({
      'incident-thread.hbs':
        '{"text": "{{incident.ref}}", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "{{incident.header}} (thread)"}}]}',
    });
    await expect(loadTemplates(config(dir, 10))).rejects.toThrow(
      new TemplateError(
        `${join(dir, 'incident-thread.hbs')}: blocks[0].text.text: must be at most 150 characters, is 159`,
      ),
    );
  });

  it('fails at start, naming the file, for a post-mortem override that breaks with real content', async () => {
    // `user` is a Block Kit helper: Markdown templates do not have it.
    const dir = await overridesDir({
      'postmortem.md.hbs': '# {{ref}}\n{{#if commander}}Commander: {{user commander}}{{/if}}\n',
    });
    await expect(loadTemplates(config(dir, 10))).rejects.toThrow(
      new TemplateError(`${join(dir, 'postmortem.md.hbs')}: Missing helper: "user"`),
    );
  });
});

describe('Markdown templates (*.md.hbs)', () => {
  /** Renders `text` as an override of the post-mortem template. */
  async function renderMarkdown(text: string, view: object): Promise<string> {
    const set = await TemplateSet.load(await overridesDir({ 'postmortem.md.hbs': text }));
    return set.renderText('postmortem.md', view);
  }

  it('are named without .hbs and overridden like the others', async () => {
    const set = await TemplateSet.load(await overridesDir({ 'postmortem.md.hbs': 'custom {{ref}}\n' }));
    expect(set.names()).toContain('postmortem.md');
    expect(set.renderText('postmortem.md', { ref: 'INC-1' })).toBe('custom INC-1\n');
  });

  it('refuses an override named like a Block Kit template of the same stem', async () => {
    const { dir, error } = await loadError({ 'postmortem.hbs': '# x' });
    expect(error.message).toMatch(new RegExp(`^${join(dir, 'postmortem.hbs')}: no built-in template`));
    expect(error.message).toContain('postmortem.md.hbs');
  });

  it('write {{value}} as it is: no Slack or JSON escaping, Markdown kept', async () => {
    const value = '<!channel> & "quoted" \\ C:\\temp *bold* `code`\n# heading {{x}}';
    expect(await renderMarkdown('{{v}}', { v: value })).toBe(value);
    expect(await renderMarkdown('[{{n}} {{yes}} {{nil}}{{missing}}]', { n: 0, yes: true, nil: null })).toBe(
      '[0 true ]',
    );
  });

  it('{{oneline x}} keeps a value on one line: every run of whitespace becomes one space', async () => {
    const view = { v: '  first\r\n\n# not a heading\t- not an item \u2028 end  ', nil: null };
    expect(await renderMarkdown('- {{oneline v}}|{{oneline nil}}|{{oneline missing}}', view)).toBe(
      '- first # not a heading - not an item end||',
    );
  });

  it('have the shared helpers but none of the Slack ones', async () => {
    expect(await renderMarkdown('{{plural n "alert"}}, {{#if (eq a 1)}}one{{/if}}', { n: 2, a: 1 })).toBe(
      '2 alerts, one',
    );
    for (const helper of ['link url "label"', 'date t', 'user u', 'channel c']) {
      await expect(
        renderMarkdown(`{{${helper}}}`, { url: 'https://ex.com', t: '2026-01-01T00:00:00Z' }),
      ).rejects.toThrow(/postmortem\.md\.hbs: Missing helper/);
    }
  });

  it('cannot use a Block Kit partial, which would write Slack JSON into the document', async () => {
    await expect(renderMarkdown('{{> alert}}', {})).rejects.toThrow(/The partial alert could not be found/);
  });

  it('refuse triple-stash too, with file:line', async () => {
    const { dir, error } = await loadError({ 'postmortem.md.hbs': '# title\n\n{{{v}}}' });
    expect(error.message).toBe(
      `${join(dir, 'postmortem.md.hbs')}:3: triple-stash {{{…}}} is not allowed: {{…}} already writes values as they are`,
    );
    expect((await loadError({ 'postmortem.md.hbs': '{{& v}}' })).error.message).toMatch(/:1: triple-stash/);
  });

  it('fail when they render an empty document', async () => {
    const dir = await overridesDir({ 'postmortem.md.hbs': '{{#if v}}x{{/if}}\n' });
    const set = await TemplateSet.load(dir);
    expect(() => set.renderText('postmortem.md', {})).toThrow(
      new TemplateError(`${join(dir, 'postmortem.md.hbs')}: renders an empty document`),
    );
  });

  it('render only through renderText, as Block Kit templates only through renderMessage', async () => {
    const set = await TemplateSet.load();
    expect(() => set.renderMessage('postmortem.md', {})).toThrow(
      new TemplateError('postmortem.md is a Markdown template: render it with renderText'),
    );
    expect(() => set.renderText('incident-root', {})).toThrow(
      new TemplateError('incident-root is a Block Kit template: render it with renderMessage'),
    );
    expect(() => set.renderText('nope.md', {})).toThrow(new TemplateError('no template named nope.md'));
  });
});
