import { z } from 'zod';
import { dataRecord } from '../primitives/records.js';

/**
 * `pagers` in the YAML config: where an escalation step may page (PagerDuty, or a JSON webhook of one's
 * own). The file names the env var holding each secret, never the secret itself.
 */

// The NAME of the variable: a pasted key fails here instead of landing in the config.
const EnvVarName = z
  .string()
  .regex(
    /^[A-Z_][A-Z0-9_]*$/,
    'expected the name of an env var holding the secret, like PAGE_WEBHOOK_SECRET',
  );

const LOCAL_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * https, or plain http to this machine only (a local relay, a test's stand-in): a page and its signature
 * cross no network in clear. No credentials in the URL: the secret comes from the environment.
 */
const WebhookUrl = z.string().refine(
  (value) => {
    try {
      const url = new URL(value);
      const secure = url.protocol === 'https:' || (url.protocol === 'http:' && LOCAL_HOSTS.has(url.hostname));
      return secure && !url.username && !url.password;
    } catch {
      return false;
    }
  },
  {
    message:
      'expected an https URL without credentials (http only to localhost), like https://ops.example/page',
  },
);

const PagerDutyPager = z.strictObject({
  type: z.literal('pagerduty'),
  // The Events API v2 integration key of the PagerDuty service to page.
  routingKeyEnv: EnvVarName,
});

const WebhookPager = z.strictObject({
  type: z.literal('webhook'),
  url: WebhookUrl,
  // Signs every request (X-Incident-Bot-Signature): the receiver checks the page is the bot's.
  secretEnv: EnvVarName,
});

const PagerSchema = z.discriminatedUnion('type', [PagerDutyPager, WebhookPager], {
  error: (issue) =>
    issue.code === 'invalid_union'
      ? 'expected type to be one of pagerduty, webhook'
      : 'expected a pager like {type: pagerduty, routingKeyEnv: PAGERDUTY_ROUTING_KEY}',
});

export type PagerConfig = z.infer<typeof PagerSchema>;

// Pager names go into dedup keys and the thread: short, and plain.
export const PagersConfigSchema = dataRecord(
  z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'expected a pager name like oncall-pagerduty'),
  PagerSchema,
).optional();

export type PagersConfig = NonNullable<z.infer<typeof PagersConfigSchema>>;

/** The pagers an escalation step may name. */
export function pagerNames(file: { pagers?: PagersConfig }): string[] {
  return Object.keys(file.pagers ?? {});
}

/** Whether any pager is configured: pages are sent only through one. */
export const anyPager = (file: { pagers?: PagersConfig }): boolean => pagerNames(file).length > 0;

/** Each pager's secret (PagerDuty's routing key, the webhook's signing secret), by pager name. */
export type PagerSecrets = Readonly<Record<string, string>>;

const envVarOf = (pager: PagerConfig) => (pager.type === 'pagerduty' ? pager.routingKeyEnv : pager.secretEnv);

/**
 * Reads every pager's secret from the environment, or says, one line each, which are missing or unusable.
 * The lines name the variable and the pager, never a value.
 */
export function readPagerSecrets(
  pagers: PagersConfig | undefined,
  source: NodeJS.ProcessEnv,
): { secrets: PagerSecrets; problems: string[] } {
  const secrets: Record<string, string> = Object.create(null);
  const problems: string[] = [];
  for (const [name, pager] of Object.entries(pagers ?? {})) {
    const variable = envVarOf(pager);
    const value = source[variable] ?? '';
    const names = `pagers.${name}.${pager.type === 'pagerduty' ? 'routingKeyEnv' : 'secretEnv'} names it`;
    if (value === '') problems.push(`${variable}: required (${names})`);
    else if (!/^[\x21-\x7e]+$/.test(value))
      problems.push(
        `${variable}: expected a secret without spaces, line breaks or control characters (${names})`,
      );
    else if (pager.type === 'webhook' && value.length < 16)
      problems.push(`${variable}: expected a signing secret of at least 16 characters (${names})`);
    else secrets[name] = value;
  }
  return { secrets, problems };
}
