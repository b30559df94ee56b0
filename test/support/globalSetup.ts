import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';

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
    project.provide('databaseUrl', process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
    project.provide('redisUrl', process.env.REDIS_URL ?? 'redis://127.0.0.1:6379');
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
