import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const ANNOUNCEMENT_OVERRIDE =
  '{"text": "Declared {{incident.ref}}", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "{{incident.header}}"}}, {"type": "section", "text": {"type": "mrkdwn", "text": "Join {{channel channelId}}"}}]}';

// No Slack, database or Redis settings: previewing a template needs only the templates.
describe('incident-bot render', () => {
  let dir: string;
  let overrides: string;
  const data = async (name: string, view: unknown) => {
    const path = join(dir, name);
    await writeFile(path, typeof view === 'string' ? view : JSON.stringify(view));
    return path;
  };
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'incident-bot-render-'));
    overrides = join(dir, 'templates');
    await mkdir(overrides);
    await writeFile(join(overrides, 'incident-announcement.hbs'), ANNOUNCEMENT_OVERRIDE);
  });

  it('prints the Block Kit an override gives for the data, escaped as the bot would send it', async () => {
    const file = await data('announcement.json', {
      incident: { ref: 'INC-7', header: 'Checkout <down> & out' },
      channelId: 'C0INC7',
    });
    const result = await runCli(['render', 'incident-announcement', '--data', file], {
      TEMPLATES_DIR: overrides,
    });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      text: 'Declared INC-7',
      blocks: [
        { type: 'header', text: { type: 'plain_text', text: 'Checkout &lt;down&gt; &amp; out' } },
        { type: 'section', text: { type: 'mrkdwn', text: 'Join <#C0INC7>' } },
      ],
    });
  });

  it('renders a built-in with --data=file and the name with its .hbs suffix', async () => {
    const file = await data('root.json', { incident: { ref: 'INC-8', header: 'Payments slow' } });
    const result = await runCli(['render', 'incident-root.hbs', `--data=${file}`], {});
    expect(result.code).toBe(0);
    const message = JSON.parse(result.stdout) as { text: string; blocks: Array<{ type: string }> };
    expect(message.text).toBe('Payments slow');
    expect(message.blocks[0]!.type).toBe('header');
  });

  it('prints a Markdown template as the document', async () => {
    const file = await data('postmortem.json', { ref: 'INC-9', title: 'Queue backlog' });
    const result = await runCli(['render', 'postmortem.md', '--data', file], {});
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^# Post-Mortem: INC-9 — Queue backlog\n/);
  });

  it('lists the templates there are for a name that is not one of them', async () => {
    const file = await data('any.json', {});
    const result = await runCli(['render', 'incident-rooot', '--data', file], {});
    expect(result.code).toBe(64);
    expect(result.stderr).toBe(
      'incident-bot render: no template named "incident-rooot"; available: action-request, health-result, heartbeat-back, heartbeat-missing, incident-announcement, incident-list, incident-root, incident-stats, incident-thread, incident-timeline, postmortem.md\n',
    );
  });

  it.each([
    [['render', 'incident-root'], 'expected --data <file.json>'],
    [['render', '--data', 'x.json'], 'expected one template name'],
    [['render', 'incident-root', '--data'], '--data needs a file'],
    [['render', 'incident-root', '--data', 'x.json', '--pretty'], 'unknown option --pretty'],
  ])('shows the usage for %j', async (args, problem) => {
    const result = await runCli(args, {});
    expect(result.code).toBe(64);
    expect(result.stderr).toBe(
      `incident-bot render: ${problem}\nusage: incident-bot render <template> --data <file.json>\n`,
    );
  });

  it('names a data file it cannot read', async () => {
    const result = await runCli(['render', 'incident-root', '--data', join(dir, 'missing.json')], {});
    expect(result.code).toBe(66);
    expect(result.stderr).toBe(`incident-bot render: cannot read ${join(dir, 'missing.json')}: ENOENT\n`);
  });

  it.each([
    ['{"incident": ', /not valid JSON \(/],
    ['[1, 2]', /expected a JSON object, the view the template is given/],
  ])('refuses data that is not a JSON object: %s', async (text, message) => {
    const file = await data('bad.json', text);
    const result = await runCli(['render', 'incident-root', '--data', file], {});
    expect(result.code).toBe(65);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });

  it('says which limit the data breaks', async () => {
    const file = await data('long.json', { incident: { ref: 'INC-1', header: 'x'.repeat(151) } });
    const result = await runCli(['render', 'incident-announcement', '--data', file], {
      TEMPLATES_DIR: overrides,
    });
    expect(result.code).toBe(65);
    expect(result.stderr).toBe(
      `incident-bot render: incident-announcement gives no valid message for this data: ${join(overrides, 'incident-announcement.hbs')}: blocks[0].text.text: must be at most 150 characters, is 151\n`,
    );
  });

  it('exits 78 when an override does not compile', async () => {
    const broken = join(dir, 'broken');
    await mkdir(broken);
    await writeFile(join(broken, 'incident-root.hbs'), '{"text": "{{{title}}}"}');
    const file = await data('any.json', {});
    const result = await runCli(['render', 'incident-root', '--data', file], { TEMPLATES_DIR: broken });
    expect(result.code).toBe(78);
    expect(result.stderr).toContain(`${join(broken, 'incident-root.hbs')}:1: triple-stash`);
  });
});
