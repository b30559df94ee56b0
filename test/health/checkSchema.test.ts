import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { HealthCheckSchema, ServiceChecksSchema } from '../../src/health/checkSchema.js';

function firstIssue(input: unknown, schema: z.ZodType = HealthCheckSchema) {
  const result = z.safeParse(schema, input);
  if (result.success) throw new Error(`expected ${JSON.stringify(input)} to be refused`);
  const [issue] = result.error.issues;
  return { path: issue!.path, message: issue!.message };
}

const http = { kind: 'http', name: 'api-health', url: 'https://payments.internal/health' };
const postgres = { kind: 'postgres', name: 'db', connectionEnv: 'PAYMENTS_DATABASE_URL' };
const redis = { kind: 'redis', name: 'cache', connectionEnv: 'PAYMENTS_REDIS_URL' };
const tcp = { kind: 'tcp', name: 'smtp', host: 'mail.internal', port: 25 };
const prometheus = {
  kind: 'prometheus',
  name: 'error-rate',
  url: 'http://prometheus:9090',
  query: 'sum(rate(http_requests_total{service="{{labels.service}}",code=~"5.."}[5m]))',
  failAt: 0.05,
};

describe('defaults', () => {
  it('fills an http check', () => {
    expect(HealthCheckSchema.parse(http)).toEqual({
      ...http,
      method: 'GET',
      expectStatus: 200,
      timeout: 5000,
    });
  });

  it('fills a postgres check', () => {
    expect(HealthCheckSchema.parse(postgres)).toEqual({
      ...postgres,
      migrationsTable: 'schema_migrations',
      migrationsColumn: 'filename',
      connectionsWarnAt: 0.8,
      timeout: 5000,
    });
  });

  it('fills redis and tcp checks', () => {
    expect(HealthCheckSchema.parse(redis)).toEqual({ ...redis, timeout: 5000 });
    expect(HealthCheckSchema.parse({ ...tcp, timeout: '2s' })).toEqual({ ...tcp, timeout: 2000 });
  });

  it('fills a prometheus check: high is bad, an empty result warns', () => {
    expect(HealthCheckSchema.parse(prometheus)).toEqual({
      ...prometheus,
      direction: 'above',
      ifEmpty: 'warn',
      timeout: 5000,
    });
  });

  it('keeps every option given', () => {
    const full = {
      ...postgres,
      migrationsTable: 'ops.schema_migrations',
      migrationsColumn: 'version',
      expectedHead: '042_event_types.sql',
      requiredTables: ['event_types', 'audit.events'],
      connectionsWarnAt: 0.5,
      timeout: '10s',
    };
    expect(HealthCheckSchema.parse(full)).toEqual({ ...full, timeout: 10_000 });
    const json = {
      ...http,
      method: 'POST',
      expectStatus: 204,
      expectJson: { status: 'ok', checks: { db: 'up' } },
    };
    expect(HealthCheckSchema.parse(json)).toEqual({ ...json, timeout: 5000 });
    const latency = {
      ...prometheus,
      url: 'https://monitoring.internal/prometheus/',
      direction: 'below',
      warnAt: 0.99,
      failAt: 0.95,
      ifEmpty: 'fail',
      usernameEnv: 'PROMETHEUS_API_USERNAME',
      passwordEnv: 'PROMETHEUS_API_PASSWORD',
      timeout: '10s',
    };
    expect(HealthCheckSchema.parse(latency)).toEqual({ ...latency, timeout: 10_000 });
  });
});

describe('refusals name the path and say what is expected', () => {
  it.each([
    [
      { ...http, kind: 'ping' },
      ['kind'],
      'expected kind to be one of http, postgres, redis, tcp, prometheus',
    ],
    [{ name: 'x' }, ['kind'], 'expected kind to be one of http, postgres, redis, tcp, prometheus'],
    ['http://x', [], 'expected a check like'],
    [{ ...http, name: 'API Health' }, ['name'], 'expected lowercase letters, digits and -'],
    [{ ...http, url: 'ftp://files.internal/health' }, ['url'], 'expected an http or https URL'],
    [{ ...http, url: 'not a url' }, ['url'], 'expected an http or https URL'],
    [
      { ...http, url: 'https://probe:hunter22@payments.internal/health' },
      ['url'],
      'credentials do not belong',
    ],
    [{ ...http, method: 'DELETE' }, ['method'], 'expected GET, HEAD or POST'],
    [{ ...http, expectStatus: 42 }, ['expectStatus'], 'expected an HTTP status code between 100 and 599'],
    [{ ...http, expectJson: 'ok' }, ['expectJson'], 'expected an object of keys and values'],
    [
      { ...http, method: 'HEAD', expectJson: { status: 'ok' } },
      ['expectJson'],
      'a HEAD response has no body',
    ],
    [{ ...http, timeout: 5000 }, ['timeout'], 'expected string'],
    [{ ...http, timeout: '500ms' }, ['timeout'], 'expected a duration like 30s, 15m, 2h or 7d'],
    [{ ...http, timeout: '5m' }, ['timeout'], 'expected a timeout of at most 60s'],
    [{ ...http, timout: '5s' }, [], 'Unrecognized key: "timout"'],
    [
      { ...postgres, connectionEnv: 'postgres://app:secret@db/payments' },
      ['connectionEnv'],
      'expected the name of an env var holding the connection string',
    ],
    [
      { ...postgres, migrationsTable: 'schema_migrations; DROP TABLE x' },
      ['migrationsTable'],
      'expected a table name',
    ],
    [{ ...postgres, migrationsColumn: 'file name' }, ['migrationsColumn'], 'expected a column name'],
    [{ ...postgres, requiredTables: ['roles', 'a.b.c'] }, ['requiredTables', 1], 'expected a table name'],
    [{ ...postgres, expectedHead: '' }, ['expectedHead'], 'expected the file name of the newest migration'],
    [{ ...postgres, connectionsWarnAt: 80 }, ['connectionsWarnAt'], 'expected a fraction of max_connections'],
    [{ ...postgres, connectionsWarnAt: 0 }, ['connectionsWarnAt'], 'expected a fraction of max_connections'],
    [{ ...postgres, url: 'postgres://db' }, [], 'Unrecognized key: "url"'],
    [{ ...redis, connectionEnv: 'redis_url' }, ['connectionEnv'], 'expected the name of an env var'],
    [{ ...tcp, port: 70000 }, ['port'], 'expected a port number between 1 and 65535'],
    [{ ...tcp, host: 'tcp://mail.internal' }, ['host'], 'expected a host name or IP address'],
    [{ ...prometheus, failAt: undefined }, ['failAt'], 'expected warnAt, failAt or both'],
    [{ ...prometheus, warnAt: 0.1 }, ['warnAt'], 'expected warnAt below failAt with direction above'],
    [
      { ...prometheus, direction: 'below', warnAt: 0.01 },
      ['warnAt'],
      'expected warnAt above failAt with direction below',
    ],
    [{ ...prometheus, direction: 'up' }, ['direction'], 'expected above or below'],
    [{ ...prometheus, failAt: '5%' }, ['failAt'], 'expected a number, like 0.05'],
    [{ ...prometheus, ifEmpty: 'ignore' }, ['ifEmpty'], 'expected ok, warn or fail'],
    [{ ...prometheus, query: ' ' }, ['query'], 'expected a PromQL query'],
    [{ ...prometheus, query: 'up{job={{labels.job}}}' }, ['query'], 'is outside a string'],
    [
      { ...prometheus, query: 'up{job="{{ job }}"}' },
      ['query'],
      'expected a placeholder like {{labels.service}}',
    ],
    [{ ...prometheus, url: 'http://prometheus:9090/?x=1' }, ['url'], "expected Prometheus's base URL"],
    // An empty ?query or #fragment too: /api/v1/query would land after it, in the query or the fragment.
    [{ ...prometheus, url: 'http://prometheus:9090/?' }, ['url'], "expected Prometheus's base URL"],
    [{ ...prometheus, url: 'http://prometheus:9090#' }, ['url'], "expected Prometheus's base URL"],
    [{ ...prometheus, url: 'http://admin:pw@prometheus:9090' }, ['url'], 'credentials do not belong'],
    [
      { ...prometheus, tokenEnv: 'eyJhbGciOi.secret' },
      ['tokenEnv'],
      'expected the name of an env var holding a bearer token',
    ],
    [
      { ...prometheus, tokenEnv: 'PROMETHEUS_API_TOKEN', usernameEnv: 'PROMETHEUS_API_USERNAME' },
      ['tokenEnv'],
      'expected either tokenEnv or usernameEnv and passwordEnv, not both',
    ],
    [
      { ...prometheus, usernameEnv: 'PROMETHEUS_API_USERNAME' },
      ['passwordEnv'],
      'expected usernameEnv and passwordEnv together',
    ],
  ])('%j', (input, path, message) => {
    const issue = firstIssue(input);
    expect(issue.path).toEqual(path);
    expect(issue.message).toContain(message);
  });

  it('a missing key is reported at its path', () => {
    expect(firstIssue({ kind: 'tcp', name: 'smtp', host: 'mail.internal' }).path).toEqual(['port']);
  });
});

describe('ServiceChecksSchema', () => {
  it('accepts a list of mixed checks in order', () => {
    expect(ServiceChecksSchema.parse([http, postgres, redis, tcp, prometheus]).map((c) => c.kind)).toEqual([
      'http',
      'postgres',
      'redis',
      'tcp',
      'prometheus',
    ]);
  });

  it('puts the index in the path of a bad check', () => {
    expect(firstIssue([http, { ...tcp, port: 0 }], ServiceChecksSchema)).toEqual({
      path: [1, 'port'],
      message: 'expected a port number between 1 and 65535',
    });
  });

  it('refuses two checks with one name, since results are reported by name', () => {
    expect(firstIssue([http, { ...tcp, name: 'api-health' }], ServiceChecksSchema)).toEqual({
      path: [1, 'name'],
      message: 'api-health is listed twice',
    });
  });
});
