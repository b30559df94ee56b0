import { probePostgres } from '../db/probe.js';
import { redactUrlPasswords } from '../observability/logger.js';
import { probeRedis } from '../queues/redisProbe.js';

/** The services the bot cannot start without, and the shortest ways a newcomer gets each running. */
const SERVICES = {
  DATABASE_URL: {
    name: 'PostgreSQL',
    holds: 'incidents, alerts and approvals are kept',
    // Debian's server takes password logins only over TCP, and Homebrew's has a role named after you.
    debian:
      'sudo apt install postgresql && sudo -u postgres createuser --superuser --pwprompt incident_bot, then DATABASE_URL=postgres://incident_bot:<that password>@127.0.0.1:5432/postgres',
    homebrew:
      'brew install postgresql@17 && brew services start postgresql@17, then DATABASE_URL=postgres://$USER@127.0.0.1:5432/postgres',
    example: 'postgres://user:password@host:5432/incident_bot',
  },
  REDIS_URL: {
    name: 'Redis',
    holds: 'Slack messages, checks and actions are queued',
    debian: 'sudo apt install redis-server',
    homebrew: 'brew install redis && brew services start redis',
    example: 'redis://host:6379',
  },
} as const;

type ServiceVariable = keyof typeof SERVICES;

export const PROBE_TIMEOUT_MS = 3000;

/** One or more services the bot needs are unreachable: what to tell the person starting it. */
export class ServicesUnavailableError extends Error {
  constructor(readonly paragraphs: readonly string[]) {
    super(paragraphs.join('\n\n'));
    this.name = 'ServicesUnavailableError';
  }
}

/** Tries each service once, side by side, so one run names every service that is missing. */
export async function requireServices(
  env: Record<ServiceVariable, string>,
  given: NodeJS.ProcessEnv,
  who = 'the bot',
  notes: Partial<Record<ServiceVariable, string>> = {},
): Promise<void> {
  const [postgres, redis] = await Promise.all([
    probePostgres(env.DATABASE_URL, PROBE_TIMEOUT_MS),
    probeRedis(env.REDIS_URL, PROBE_TIMEOUT_MS),
  ]);
  const paragraphs = [
    ...(postgres.reachable
      ? []
      : [unavailable('DATABASE_URL', env.DATABASE_URL, postgres.problem, given, who, notes.DATABASE_URL)]),
    ...(redis.reachable
      ? []
      : [unavailable('REDIS_URL', env.REDIS_URL, redis.problem, given, who, notes.REDIS_URL)]),
  ];
  if (paragraphs.length > 0) throw new ServicesUnavailableError(paragraphs);
}

/** Which service, where, who needs it, what was tried and what it said, and how to get one: a few lines, no stack. */
export function unavailable(
  variable: ServiceVariable,
  url: string,
  problem: string,
  given: NodeJS.ProcessEnv,
  who: string,
  note?: string,
): string {
  const service = SERVICES[variable];
  const { host } = new URL(url);
  const from = given[variable] ? `from ${variable}` : `the default; ${variable} is not set`;
  return [
    `${service.name} is not reachable at ${host} (${from}): ${redactUrlPasswords(problem).replace(/\.$/, '')}.`,
    `It is where ${service.holds}: ${who} cannot start without it. One connection was tried, waiting up to ${PROBE_TIMEOUT_MS / 1000} s.`,
    ...(note ? [note] : []),
    'To get it running, one of:',
    "  - this repository's development services: docker compose -f docker-compose.dev.yml up -d",
    `  - Debian or Ubuntu: ${service.debian}`,
    `  - macOS with Homebrew: ${service.homebrew}`,
    `  - one running elsewhere: ${variable}=${service.example}`,
  ].join('\n');
}
