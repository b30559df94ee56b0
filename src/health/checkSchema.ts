import { z } from 'zod';
import { Duration } from '../primitives/duration.js';
import { QueryTemplateError, querySlots } from './promql.js';

/** One health check of a service, as the YAML config declares it. Secrets stay in env vars. */

// Same shape as action names, so `/health payments-api db` can name a check.
const CheckName = z
  .string()
  .regex(/^[a-z][a-z0-9-]{0,62}$/, 'expected lowercase letters, digits and -, like api-health');

// A check runs inside a queue job: it must give up long before the job does.
const Timeout = Duration.pipe(z.number().max(60_000, 'expected a timeout of at most 60s')).default(5000);

// The NAME of the variable: a pasted secret fails here instead of landing in the config.
const envVarName = (holding: string) =>
  z.string().regex(/^[A-Z_][A-Z0-9_]*$/, `expected the name of an env var holding ${holding}`);
const EnvVarName = envVarName('the connection string, like PAYMENTS_DATABASE_URL');

const IDENT = '[A-Za-z_][A-Za-z0-9_]*';
const Identifier = z.string().regex(new RegExp(`^${IDENT}$`), 'expected a column name like filename');
const TableName = z
  .string()
  .regex(new RegExp(`^(${IDENT}\\.)?${IDENT}$`), 'expected a table name like event_types or audit.events');

// Piped so the credentials test only sees strings that parsed as URLs.
const HttpUrl = z.url({ protocol: /^https?$/, error: 'expected an http or https URL' }).pipe(
  z.string().refine((text) => {
    const url = new URL(text);
    return url.username === '' && url.password === '';
  }, 'credentials do not belong in the config: remove user:password@ from the URL'),
);

const HttpCheck = z
  .strictObject({
    kind: z.literal('http'),
    name: CheckName,
    url: HttpUrl,
    method: z.enum(['GET', 'HEAD', 'POST'], { error: 'expected GET, HEAD or POST' }).default('GET'),
    expectStatus: z
      .number()
      .int()
      .min(100, 'expected an HTTP status code between 100 and 599')
      .max(599, 'expected an HTTP status code between 100 and 599')
      .default(200),
    expectJson: z
      .record(z.string(), z.json(), {
        error: 'expected an object of keys and values the response JSON must contain, like {status: ok}',
      })
      .optional(),
    timeout: Timeout,
  })
  .refine((check) => !(check.method === 'HEAD' && check.expectJson), {
    message: 'a HEAD response has no body to compare with expectJson',
    path: ['expectJson'],
  });

const PostgresCheck = z.strictObject({
  kind: z.literal('postgres'),
  name: CheckName,
  connectionEnv: EnvVarName,
  migrationsTable: TableName.default('schema_migrations'),
  migrationsColumn: Identifier.default('filename'),
  expectedHead: z.string().min(1, 'expected the file name of the newest migration').optional(),
  requiredTables: z.array(TableName).optional(),
  connectionsWarnAt: z
    .number()
    .gt(0, 'expected a fraction of max_connections above 0 and at most 1, like 0.8')
    .max(1, 'expected a fraction of max_connections above 0 and at most 1, like 0.8')
    .default(0.8),
  timeout: Timeout,
});

const RedisCheck = z.strictObject({
  kind: z.literal('redis'),
  name: CheckName,
  connectionEnv: EnvVarName,
  timeout: Timeout,
});

const TcpCheck = z.strictObject({
  kind: z.literal('tcp'),
  name: CheckName,
  host: z
    .string()
    .regex(/^[A-Za-z0-9._:-]+$/, 'expected a host name or IP address, like db.internal or 10.0.0.5'),
  port: z
    .number()
    .int()
    .min(1, 'expected a port number between 1 and 65535')
    .max(65535, 'expected a port number between 1 and 65535'),
  timeout: Timeout,
});

const Threshold = z.number({ error: 'expected a number, like 0.05' });

const PromqlQuery = z
  .string()
  .trim()
  .min(1, 'expected a PromQL query, like sum(rate(http_requests_total[5m]))')
  .max(4000, 'expected a query of at most 4000 characters')
  .superRefine((query, ctx) => {
    try {
      querySlots(query);
    } catch (err) {
      if (!(err instanceof QueryTemplateError)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
    }
  });

// A query's answer judged against thresholds: `direction: above` (the default) means high is bad.
const PrometheusCheck = z
  .strictObject({
    kind: z.literal('prometheus'),
    name: CheckName,
    // Prometheus's base URL, with its path prefix if it has one: /api/v1/query and /graph go under it.
    // The text, not URL's search and hash, which are empty for a bare ? or #.
    url: HttpUrl.refine(
      (text) => !/[?#]/.test(text),
      "expected Prometheus's base URL, like http://prometheus:9090, without ?query or #fragment",
    ),
    query: PromqlQuery,
    direction: z.enum(['above', 'below'], { error: 'expected above or below' }).default('above'),
    warnAt: Threshold.optional(),
    failAt: Threshold.optional(),
    ifEmpty: z.enum(['ok', 'warn', 'fail'], { error: 'expected ok, warn or fail' }).default('warn'),
    // Credentials stay in the env: a bearer token, or a username with its password.
    tokenEnv: envVarName('a bearer token, like PROMETHEUS_API_TOKEN').optional(),
    usernameEnv: envVarName('a username, like PROMETHEUS_API_USERNAME').optional(),
    passwordEnv: envVarName('a password, like PROMETHEUS_API_PASSWORD').optional(),
    timeout: Timeout,
  })
  .superRefine((check, ctx) => {
    const { warnAt, failAt } = check;
    if (warnAt === undefined && failAt === undefined) {
      ctx.addIssue({ code: 'custom', path: ['failAt'], message: 'expected warnAt, failAt or both' });
    } else if (warnAt !== undefined && failAt !== undefined) {
      const ordered = check.direction === 'above' ? warnAt < failAt : warnAt > failAt;
      if (!ordered) {
        ctx.addIssue({
          code: 'custom',
          path: ['warnAt'],
          message: `expected warnAt ${check.direction === 'above' ? 'below' : 'above'} failAt with direction ${check.direction}`,
        });
      }
    }
    if (check.tokenEnv && (check.usernameEnv || check.passwordEnv)) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokenEnv'],
        message: 'expected either tokenEnv or usernameEnv and passwordEnv, not both',
      });
    } else if (Boolean(check.usernameEnv) !== Boolean(check.passwordEnv)) {
      ctx.addIssue({
        code: 'custom',
        path: [check.usernameEnv ? 'passwordEnv' : 'usernameEnv'],
        message: 'expected usernameEnv and passwordEnv together',
      });
    }
  });

export const HealthCheckSchema = z.discriminatedUnion(
  'kind',
  [HttpCheck, PostgresCheck, RedisCheck, TcpCheck, PrometheusCheck],
  {
    error: (issue) =>
      issue.code === 'invalid_union'
        ? 'expected kind to be one of http, postgres, redis, tcp, prometheus'
        : 'expected a check like {kind: http, name: api-health, url: …}',
  },
);

export type HealthCheck = z.infer<typeof HealthCheckSchema>;
export type HealthCheckKind = HealthCheck['kind'];

/**
 * The env vars a check reads credentials from: a connection string (whose password is the secret, not
 * the host it names) or a token or password (secret whole). A username is neither.
 */
export function checkCredentialEnv(check: HealthCheck): { connections: string[]; secrets: string[] } {
  switch (check.kind) {
    case 'postgres':
    case 'redis':
      return { connections: [check.connectionEnv], secrets: [] };
    case 'prometheus':
      return {
        connections: [],
        secrets: [check.tokenEnv, check.passwordEnv].filter((name) => name !== undefined),
      };
    case 'http':
    case 'tcp':
      return { connections: [], secrets: [] };
  }
}

/** One service's checks. Results are reported by name, so names must differ. */
export const ServiceChecksSchema = z.array(HealthCheckSchema).superRefine((checks, ctx) => {
  const seen = new Set<string>();
  checks.forEach((check, i) => {
    if (seen.has(check.name)) {
      ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `${check.name} is listed twice` });
    }
    seen.add(check.name);
  });
});
