import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../support/cli.js';

const GOOD_YAML = `slack:
  defaultChannel: C0DEFAULT1
routes:
  - { matchers: ['team=a'], channel: C0AAAAAAA }
`;

/** An incident-thread override: valid for short content, too long a header for the largest incident. */
const LIMIT_BREAKING =
  '{"text": "{{incident.ref}}", "blocks": [{"type": "header", "text": {"type": "plain_text", "text": "{{incident.header}} (thread)"}}]}';

describe('incident-bot check-config', () => {
  let dir: string;
  // Nothing listens on port 1: the check must not need a database or Redis.
  const env = (extra: Record<string, string> = {}) => ({
    SLACK_BOT_TOKEN: 'xoxb-check-config-token',
    SLACK_SIGNING_SECRET: 'check-config-signing-secret',
    DATABASE_URL: 'postgres://bot@127.0.0.1:1/incident_bot',
    REDIS_URL: 'redis://127.0.0.1:1',
    ALERTMANAGER_TOKEN: 'check-config-alertmanager-token',
    INCIDENT_BOT_CONFIG: join(dir, 'good.yml'),
    ...extra,
  });
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'incident-bot-check-'));
    await writeFile(join(dir, 'good.yml'), GOOD_YAML);
    await mkdir(join(dir, 'good-templates'));
    await writeFile(
      join(dir, 'good-templates', 'incident-announcement.hbs'),
      '{"text": "custom {{incident.ref}}", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "custom {{incident.ref}}"}}]}',
    );
  });

  it('says ok, with a short summary, for a valid setup, without a database or Redis', async () => {
    const result = await runCli(['check-config'], env({ TEMPLATES_DIR: join(dir, 'good-templates') }));
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(
      new RegExp(
        `^ok: environment; ${join(dir, 'good.yml')} \\(1 route, 0 services, 0 health checks, 0 actions\\); 11 templates with overrides from ${join(dir, 'good-templates')}\\n$`,
      ),
    );
  });

  it('fails with nothing set: the sandbox it would run is not a deployment to pass', async () => {
    const result = await runCli(['check-config'], {});
    expect(result.code).toBe(78);
    expect(result.stderr).toContain('environment: SLACK_BOT_TOKEN: required; without it and a config file');
  });

  it('passes the example config shipped with the bot', async () => {
    const example = new URL('../../config/incident-bot.example.yml', import.meta.url).pathname;
    const result = await runCli(['check-config'], env({ INCIDENT_BOT_CONFIG: example }));
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^ok: /);
  });

  it('prints every problem of the env, the file and the templates, one per line, and exits 78', async () => {
    await writeFile(
      join(dir, 'bad.yml'),
      `slack:\n  defaultChannel: general\nroutes:\n  - { matchers: ['team=a'], channel: '#incidents' }\n`,
    );
    const templates = join(dir, 'bad-templates');
    await mkdir(templates);
    await writeFile(join(templates, 'incident-thread.hbs'), LIMIT_BREAKING);
    await writeFile(join(templates, 'incident-root.hbs'), '{"text": "{{#if x}}open"}');
    await writeFile(join(templates, 'action-request.hbs'), '{"text": "{{{request.summary}}}"}');
    await writeFile(join(templates, 'incident-rooot.hbs'), '{"text": "typo"}');
    const result = await runCli(
      ['check-config'],
      env({
        SLACK_SIGNING_SECRET: '',
        ALERTMANAGER_TOKEN: 'short',
        INCIDENT_BOT_CONFIG: join(dir, 'bad.yml'),
        TEMPLATES_DIR: templates,
      }),
    );
    expect(result.code).toBe(78);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines[0]).toBe('incident-bot: 8 configuration problems:');
    expect(lines.slice(1).sort()).toEqual(
      [
        'environment: SLACK_SIGNING_SECRET: required',
        'environment: ALERTMANAGER_TOKEN: expected a bearer token of at least 16 characters',
        `${join(dir, 'bad.yml')}: slack.defaultChannel: expected a Slack channel id like C0123ABCD`,
        `${join(dir, 'bad.yml')}: routes[0].channel: expected a Slack channel id like C0123ABCD`,
        `templates: ${join(templates, 'incident-rooot.hbs')}: no built-in template has this name (expected one of ${expectedNames()})`,
        `templates: ${join(templates, 'incident-root.hbs')}: Parse error on line 1:`,
        `templates: ${join(templates, 'action-request.hbs')}:1: triple-stash {{{…}}} is not allowed: values must be escaped for Slack`,
        `templates: ${join(templates, 'incident-thread.hbs')}: blocks[0].text.text: must be at most 150 characters, is 159`,
      ].sort(),
    );
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('names an overrides directory it cannot read', async () => {
    const result = await runCli(['check-config'], env({ TEMPLATES_DIR: join(dir, 'missing') }));
    expect(result.code).toBe(78);
    expect(result.stderr).toContain(
      `templates: ${join(dir, 'missing')}: cannot read templates directory (ENOENT)`,
    );
  });

  it('refuses options it does not know', async () => {
    const result = await runCli(['check-config', '--strict'], env());
    expect(result.code).toBe(64);
    expect(result.stderr).toContain('unknown option --strict for check-config');
  });
});

function expectedNames(): string {
  return [
    '_alert',
    '_event',
    'action-request',
    'health-result',
    'heartbeat-back',
    'heartbeat-missing',
    'incident-announcement',
    'incident-list',
    'incident-root',
    'incident-stats',
    'incident-thread',
    'incident-timeline',
    'postmortem.md',
  ]
    .map((n) => `${n}.hbs`)
    .join(', ');
}
