import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { loadConfig } from '../../src/config/index.js';
import { pagerNames } from '../../src/paging/configSchema.js';

const ENV = {
  SLACK_BOT_TOKEN: 'xoxb-1234-5678-abcdef',
  SLACK_SIGNING_SECRET: '0123456789abcdef',
  DATABASE_URL: 'postgres://bot@db:5432/incident_bot',
  ALERTMANAGER_TOKEN: 'am-token-0123456789',
};

const PAGERS = `slack:
  defaultChannel: C0123ABCD
pagers:
  oncall-pagerduty: { type: pagerduty, routingKeyEnv: PAGERDUTY_ROUTING_KEY }
  ops-webhook: { type: webhook, url: 'https://ops.example/page', secretEnv: PAGE_WEBHOOK_SECRET }
`;

async function configFile(text: string): Promise<string> {
  const path = join(await mkdtemp(join(tmpdir(), 'incident-bot-pagers-')), 'bot.yml');
  await writeFile(path, text);
  return path;
}

async function problemsOf(text: string, env: Record<string, string | undefined> = {}): Promise<string[]> {
  const path = await configFile(text);
  try {
    await loadConfig({ ...ENV, INCIDENT_BOT_CONFIG: path, ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err.problems.map((p) => p.replace(path, 'FILE'));
    throw err;
  }
  throw new Error('expected a ConfigError');
}

describe('pagers config', () => {
  it('reads each pager, its secret from the env var it names', async () => {
    const path = await configFile(PAGERS);
    const config = await loadConfig({
      ...ENV,
      INCIDENT_BOT_CONFIG: path,
      PAGERDUTY_ROUTING_KEY: 'R0UTINGKEY0123456789abcdefabcdef',
      PAGE_WEBHOOK_SECRET: 'webhook-secret-0123456789',
    });
    expect(pagerNames(config.file)).toEqual(['oncall-pagerduty', 'ops-webhook']);
    expect(config.file.pagers?.['ops-webhook']).toEqual({
      type: 'webhook',
      url: 'https://ops.example/page',
      secretEnv: 'PAGE_WEBHOOK_SECRET',
    });
    expect({ ...config.pagerSecrets }).toEqual({
      'oncall-pagerduty': 'R0UTINGKEY0123456789abcdefabcdef',
      'ops-webhook': 'webhook-secret-0123456789',
    });
  });

  it('needs no pagers', async () => {
    const path = await configFile('slack:\n  defaultChannel: C0123ABCD\n');
    const config = await loadConfig({ ...ENV, INCIDENT_BOT_CONFIG: path });
    expect(pagerNames(config.file)).toEqual([]);
    expect({ ...config.pagerSecrets }).toEqual({});
  });

  it('refuses to start without a pager secret, one line per variable, told with the other problems', async () => {
    const problems = await problemsOf(`${PAGERS}  bad-type: { type: opsgenie, apiKeyEnv: OPSGENIE_KEY }\n`, {
      PORT: 'eighty',
      PAGE_WEBHOOK_SECRET: 'short',
    });
    // The pagers section is invalid: its variables cannot be told apart from its mistakes.
    expect(problems).toEqual([
      'environment: PORT: expected a port number from 0 to 65535',
      'FILE: pagers.bad-type.type: expected type to be one of pagerduty, webhook',
    ]);
    // A valid pagers section in a file wrong elsewhere: its variables are checked all the same.
    expect(
      await problemsOf(`${PAGERS}routes: [{ channel: general }]\n`, {
        PORT: 'eighty',
        PAGE_WEBHOOK_SECRET: 'short',
      }),
    ).toEqual([
      'environment: PORT: expected a port number from 0 to 65535',
      'environment: PAGERDUTY_ROUTING_KEY: required (pagers.oncall-pagerduty.routingKeyEnv names it)',
      'environment: PAGE_WEBHOOK_SECRET: expected a signing secret of at least 16 characters (pagers.ops-webhook.secretEnv names it)',
      'FILE: routes[0].matchers: required',
      'FILE: routes[0].channel: expected a Slack channel id like C0123ABCD',
    ]);
    expect(await problemsOf(PAGERS, { PAGE_WEBHOOK_SECRET: 'short' })).toEqual([
      'PAGERDUTY_ROUTING_KEY: required (pagers.oncall-pagerduty.routingKeyEnv names it)',
      'PAGE_WEBHOOK_SECRET: expected a signing secret of at least 16 characters (pagers.ops-webhook.secretEnv names it)',
    ]);
  });

  it('never shows a secret in a problem', async () => {
    const secret = 'pd key with spaces 0123456789';
    const problems = await problemsOf(PAGERS, {
      PAGERDUTY_ROUTING_KEY: secret,
      PAGE_WEBHOOK_SECRET: 'webhook-secret-0123456789',
    });
    expect(problems).toEqual([
      'PAGERDUTY_ROUTING_KEY: expected a secret without spaces, line breaks or control characters (pagers.oncall-pagerduty.routingKeyEnv names it)',
    ]);
    expect(problems.join('\n')).not.toContain('spaces 0123');
  });

  it('refuses a bad pager, one line per problem', async () => {
    const problems = await problemsOf(`slack:
  defaultChannel: C0123ABCD
pagers:
  plain-http: { type: webhook, url: 'http://ops.example/page', secretEnv: PAGE_WEBHOOK_SECRET }
  with-password: { type: webhook, url: 'https://u:p@ops.example/page', secretEnv: PAGE_WEBHOOK_SECRET }
  pasted-key: { type: pagerduty, routingKeyEnv: 'R0UTINGKEY0123456789abcdefabcdef' }
  key-in-yaml: { type: pagerduty, routingKeyEnv: PD_KEY, routingKey: 'R0UTINGKEY0123' }
  untyped: { url: 'https://ops.example/page' }
  Bad_Name: { type: pagerduty, routingKeyEnv: PD_KEY }
`);
    expect(problems).toEqual([
      'pagers.plain-http.url: expected an https URL without credentials (http only to localhost), like https://ops.example/page',
      'pagers.with-password.url: expected an https URL without credentials (http only to localhost), like https://ops.example/page',
      'pagers.pasted-key.routingKeyEnv: expected the name of an env var holding the secret, like PAGE_WEBHOOK_SECRET',
      'pagers.key-in-yaml: Unrecognized key: "routingKey"',
      'pagers.untyped.type: expected type to be one of pagerduty, webhook',
      'pagers.Bad_Name: expected a pager name like oncall-pagerduty',
    ]);
  });

  it('takes plain http to this machine, for a local relay', async () => {
    const path = await configFile(`slack:
  defaultChannel: C0123ABCD
pagers:
  relay: { type: webhook, url: 'http://127.0.0.1:8080/page', secretEnv: PAGE_WEBHOOK_SECRET }
  relay-by-name: { type: webhook, url: 'http://localhost:8080/page', secretEnv: PAGE_WEBHOOK_SECRET }
`);
    const config = await loadConfig({
      ...ENV,
      INCIDENT_BOT_CONFIG: path,
      PAGE_WEBHOOK_SECRET: 'webhook-secret-0123456789',
    });
    expect(pagerNames(config.file)).toEqual(['relay', 'relay-by-name']);
  });
});
