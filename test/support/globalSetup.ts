import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { requireServices, ServicesUnavailableError } from '../../src/cli/services.js';

/**
 * Real PostgreSQL and Redis for every integration test: containers where a Docker engine runs,
 * otherwise the servers at DATABASE_URL / REDIS_URL (this project's machines and CI run them locally).
 */
declare module 'vitest' {
  export interface ProvidedContext {
    databaseUrl: string;
    redisUrl: string;
  }
}

function dockerAvailable(): boolean {
  if (process.env.TESTCONTAINERS === '0') return false;
  if (process.env.DOCKER_HOST) return true;
  return existsSync('/var/run/docker.sock');
}

export default async function setup(project: TestProject) {
  if (!dockerAvailable()) {
    const urls = {
      DATABASE_URL: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres',
      REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    };
    try {
      await requireServices(urls, process.env, 'the tests (without a Docker engine for testcontainers)');
    } catch (err) {
      if (!(err instanceof ServicesUnavailableError)) throw err;
      // One paragraph a service, rather than every test file failing on its own.
      process.stderr.write(`\nnpm test: ${err.paragraphs.join('\n\n')}\n\n`);
      process.exit(69);
    }
    project.provide('databaseUrl', urls.DATABASE_URL);
    project.provide('redisUrl', urls.REDIS_URL);
    return;
  }
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  const { RedisContainer } = await import('@testcontainers/redis');
  const [postgres, redis] = await Promise.all([
    new PostgreSqlContainer('postgres:16-alpine').start(),
    new RedisContainer('redis:7-alpine').start(),
  ]);
  project.provide('databaseUrl', postgres.getConnectionUri());
  project.provide('redisUrl', redis.getConnectionUrl());
  return async () => {
    await Promise.all([postgres.stop(), redis.stop()]);
  };
}
