import { readFile } from 'node:fs/promises';
import { probePostgres } from '../db/probe.js';
import { redactUrlPasswords } from '../observability/logger.js';
import { shortReason } from '../primitives/errors.js';
import { probeRedis } from '../queues/redisProbe.js';
import { SlackRejectedError } from '../slack/errors.js';
import { readManifest } from '../slack/manifest.js';
import { checkAppToken, SlackApi } from '../slack/slackApi.js';
import { readCheckedConfig } from './checkConfig.js';

/** One line of the doctor's report: ✅ what is right, or ❌ what is wrong and how to fix it. */
interface Finding {
  ok: boolean;
  text: string;
  fix?: string;
}

const ok = (text: string): Finding => ({ ok: true, text });
const wrong = (text: string, fix: string): Finding => ({ ok: false, text, fix });

const PACKAGE_JSON = new URL('../../package.json', import.meta.url);
/** Long enough that guessing it is hopeless; the env check itself only refuses under 16. */
const GOOD_TOKEN_LENGTH = 32;

/**
 * `incident-bot doctor`: everything a first deployment gets wrong, checked against the real services
 * and Slack, one line each. Exits 0 when every line is ✅, 1 otherwise.
 */
export async function doctor(source: NodeJS.ProcessEnv, out: NodeJS.WritableStream): Promise<number> {
  const config = await readCheckedConfig(source);
  // The services are checked with what was given even when the rest of the env is invalid.
  const databaseUrl = config.env?.DATABASE_URL ?? source.DATABASE_URL;
  const redisUrl = config.env?.REDIS_URL ?? source.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const groups = await Promise.all([
    nodeVersion(),
    databaseUrl
      ? postgres(databaseUrl)
      : [
          wrong(
            'PostgreSQL: DATABASE_URL is not set',
            'set DATABASE_URL=postgres://user:password@host:5432/incident_bot',
          ),
        ],
    redis(redisUrl),
    configuration(config),
    slack(config),
    // The sandbox makes one up; only a token someone set is worth judging.
    alertmanagerToken(
      config.env?.sandbox
        ? source.ALERTMANAGER_TOKEN
        : (config.env?.ALERTMANAGER_TOKEN ?? source.ALERTMANAGER_TOKEN),
    ),
  ]);
  const findings = groups.flat();
  for (const f of findings) out.write(`${f.ok ? '✅' : '❌'} ${f.text}${f.fix ? `. Fix: ${f.fix}` : ''}\n`);
  const failed = findings.filter((f) => !f.ok).length;
  out.write(failed === 0 ? 'All good.\n' : `${failed} to fix.\n`);
  return failed === 0 ? 0 : 1;
}

async function nodeVersion(): Promise<Finding[]> {
  const { engines } = JSON.parse(await readFile(PACKAGE_JSON, 'utf8')) as { engines: { node: string } };
  const [major, minor] = process.versions.node.split('.').map(Number) as [number, number];
  // The range is written as ">=A.B <C".
  const [, lowMajor, lowMinor, high] = /^>=(\d+)\.(\d+) <(\d+)$/.exec(engines.node)!.map(Number) as number[];
  const fits = (major > lowMajor! || (major === lowMajor && minor >= lowMinor!)) && major < high!;
  return [
    fits
      ? ok(`Node.js ${process.versions.node}`)
      : wrong(
          `Node.js ${process.versions.node} is outside ${engines.node}`,
          `install a Node.js in that range (nodejs.org, or nvm install ${lowMajor})`,
        ),
  ];
}

/** The host:port of a URL, or undefined for text that is not one (the env check says so too). */
function hostOf(url: string): string | undefined {
  return URL.canParse(url) ? new URL(url).host : undefined;
}

async function postgres(url: string): Promise<Finding[]> {
  const host = hostOf(url);
  if (!host)
    return [
      wrong(
        'PostgreSQL: DATABASE_URL is not a URL',
        'write it as postgres://user:password@host:5432/database',
      ),
    ];
  const where = `PostgreSQL at ${host}`;
  const reading = await probePostgres(url);
  return [
    reading.reachable
      ? ok(`${where}: version ${reading.version}`)
      : wrong(
          `${where}: ${redactUrlPasswords(reading.problem)}`,
          'start it (docker compose -f docker-compose.dev.yml up -d, or apt install postgresql), or point DATABASE_URL at one',
        ),
  ];
}

async function redis(url: string): Promise<Finding[]> {
  const host = hostOf(url);
  if (!host) return [wrong('Redis: REDIS_URL is not a URL', 'write it as redis://host:6379')];
  const where = `Redis at ${host}`;
  const reading = await probeRedis(url);
  if (!reading.reachable)
    return [
      wrong(
        `${where}: ${redactUrlPasswords(reading.problem)}`,
        'start it (docker compose -f docker-compose.dev.yml up -d, or apt install redis-server), or point REDIS_URL at one',
      ),
    ];
  return [
    reading.maxmemoryPolicy === 'noeviction'
      ? ok(`${where}: version ${reading.version}, maxmemory-policy noeviction`)
      : wrong(
          `${where}: version ${reading.version}, maxmemory-policy ${reading.maxmemoryPolicy}: under memory pressure Redis would drop queued jobs`,
          'redis-cli CONFIG SET maxmemory-policy noeviction, and set maxmemory-policy noeviction in redis.conf',
        ),
  ];
}

async function configuration(config: Awaited<ReturnType<typeof readCheckedConfig>>): Promise<Finding[]> {
  if (config.problems.length === 0) return [ok(`configuration: ${config.summary}`)];
  const [first] = config.problems;
  const more = config.problems.length - 1;
  return [
    wrong(
      `configuration: ${first}${more > 0 ? ` (and ${more} more)` : ''}`,
      'incident-bot check-config prints every problem, one per line',
    ),
  ];
}

/** The bot token and its scopes, the app-level token, and the bot's membership of each channel it posts to. */
async function slack(config: Awaited<ReturnType<typeof readCheckedConfig>>): Promise<Finding[]> {
  const { env, file } = config;
  if (!env)
    return [
      wrong(
        'Slack: skipped, as the environment is not valid (see configuration)',
        'incident-bot check-config names each problem of the environment',
      ),
    ];
  if (env.sandbox)
    return [
      wrong(
        'Slack: SLACK_BOT_TOKEN is not set, so the Slack checks were skipped',
        'set SLACK_BOT_TOKEN to the Bot User OAuth Token (xoxb-…) from the app’s OAuth & Permissions page',
      ),
    ];
  const api = new SlackApi(env.SLACK_BOT_TOKEN, env.SLACK_API_URL);
  let identity: Awaited<ReturnType<SlackApi['identity']>>;
  try {
    identity = await api.identity();
  } catch (err) {
    return [
      wrong(
        `Slack bot token: ${slackReason(err)}`,
        err instanceof SlackRejectedError
          ? 'copy the Bot User OAuth Token (xoxb-…) from the app’s OAuth & Permissions page into SLACK_BOT_TOKEN'
          : `check that ${env.SLACK_API_URL} is reachable from here`,
      ),
    ];
  }
  const findings = [ok(`Slack bot token: <@${identity.userId}> in ${identity.team}`)];
  const { botScopes } = await readManifest();
  const missing = botScopes.filter((s) => !identity.scopes.includes(s));
  findings.push(
    missing.length === 0
      ? ok(`Slack scopes: all ${botScopes.length} that manifest.yml asks for`)
      : wrong(
          `Slack scopes: the token lacks ${missing.join(', ')}, which manifest.yml asks for`,
          'add them under OAuth & Permissions (or update the app from manifest.yml), then reinstall the app to the workspace',
        ),
  );
  if (env.SLACK_APP_TOKEN) {
    try {
      await checkAppToken(env.SLACK_APP_TOKEN, env.SLACK_API_URL);
      findings.push(ok('Slack app-level token: Slack gives it a Socket Mode address'));
    } catch (err) {
      findings.push(
        wrong(
          `Slack app-level token: ${slackReason(err)}`,
          'generate an app-level token with connections:write under Basic Information, and turn Socket Mode on',
        ),
      );
    }
  }
  if (file) {
    const channels = new Map<string, string>([[file.slack.defaultChannel, 'the default channel']]);
    for (const route of file.routes) if (!channels.has(route.channel)) channels.set(route.channel, 'a route');
    if (file.incidents.announcementChannel && !channels.has(file.incidents.announcementChannel))
      channels.set(file.incidents.announcementChannel, 'the announcement channel');
    for (const [id, role] of channels) findings.push(await membership(api, id, role));
  }
  return findings;
}

/** The most common first-run failure: the bot was never invited to a channel it must post to. */
async function membership(api: SlackApi, id: string, role: string): Promise<Finding> {
  try {
    const channel = await api.channel(id);
    return channel.isMember
      ? ok(`Slack channel #${channel.name} (${id}, ${role}): the bot is in it`)
      : wrong(
          `Slack channel #${channel.name} (${id}, ${role}): the bot is not in it, so its messages there fail`,
          `in #${channel.name}, type /invite @incident-bot`,
        );
  } catch (err) {
    if (err instanceof SlackRejectedError && err.slackError === 'missing_scope')
      return wrong(
        `Slack channel ${id} (${role}): private, and the token may not look at private channels (missing_scope)`,
        'make sure the bot is in it (/invite @incident-bot there), or add groups:read to the app to let doctor check',
      );
    return wrong(
      `Slack channel ${id} (${role}): ${slackReason(err)}`,
      'check the id in the config (channel details, at the bottom of the About tab); a private channel shows only once the bot is in it',
    );
  }
}

function slackReason(err: unknown): string {
  return err instanceof SlackRejectedError ? `Slack answered ${err.slackError}` : shortReason(err);
}

async function alertmanagerToken(token: string | undefined): Promise<Finding[]> {
  if (!token)
    return [
      wrong(
        'Alertmanager token: ALERTMANAGER_TOKEN is not set',
        'set it to a random secret: openssl rand -hex 32',
      ),
    ];
  return [
    token.length >= GOOD_TOKEN_LENGTH
      ? ok(`Alertmanager token: ${token.length} characters`)
      : wrong(
          `Alertmanager token: only ${token.length} characters`,
          `use ${GOOD_TOKEN_LENGTH} or more (openssl rand -hex 32), in ALERTMANAGER_TOKEN and Alertmanager's http_config`,
        ),
  ];
}
