import { z } from 'zod';
import { ownValue } from '../../primitives/records.js';
import {
  CommandSettingsSchema,
  commandOptionParams,
  commandPlaceholders,
  commandSecretEnv,
  createCommandDriver,
} from './command.js';
import type { Driver } from './driver.js';
import { createHttpDriver, HttpSettingsSchema, httpPlaceholders, httpSecretEnv } from './http.js';
import { createKubernetesDriver, KubernetesSettingsSchema, kubernetesPlaceholders } from './kubernetes.js';
import { redactSecrets } from './redaction.js';
import { createSqlDriver, SqlSettingsSchema, sqlPlaceholders } from './sql.js';

export type { Driver, DriverResult, DriverRun, ParamValue } from './driver.js';

/** An action's `driver:` settings in the YAML config. */
export const DriverSchema = z.discriminatedUnion('type', [
  CommandSettingsSchema,
  HttpSettingsSchema,
  SqlSettingsSchema,
  KubernetesSettingsSchema,
]);

export type DriverSettings = z.output<typeof DriverSchema>;

/**
 * The driver the settings describe. What it answers, for a run or a dry run, is redacted here, the one
 * place every result passes before it is stored or shown: passwords in URLs and connection strings, the
 * bot's own secrets (run.secrets) and the values of the env vars the settings hold secrets in.
 */
export function createDriver(settings: DriverSettings): Driver {
  const driver = driverOf(settings);
  return {
    type: driver.type,
    run: async (run) => {
      const result = await driver.run(run);
      const secrets = [
        ...run.secrets,
        ...secretEnvOf(settings).flatMap((name) => ownValue(run.env, name) ?? []),
      ];
      return {
        ...result,
        output: storable(redactSecrets(result.output, secrets)),
        summary: storable(redactSecrets(result.summary, secrets)),
      };
    },
  };
}

/** PostgreSQL text cannot hold NUL, which binary tools print: it is shown as ␀ rather than fail the record. */
const storable = (text: string) => text.replaceAll('\u0000', '␀');

function driverOf(settings: DriverSettings): Driver {
  switch (settings.type) {
    case 'command':
      return createCommandDriver(settings);
    case 'http':
      return createHttpDriver(settings);
    case 'sql':
      return createSqlDriver(settings);
    case 'kubernetes':
      return createKubernetesDriver(settings);
  }
}

/** Every {{param}} the settings use, once each: the caller checks them against the action's params. */
export function placeholdersOf(settings: DriverSettings): string[] {
  const names = (() => {
    switch (settings.type) {
      case 'command':
        return commandPlaceholders(settings);
      case 'http':
        return httpPlaceholders(settings);
      case 'sql':
        return sqlPlaceholders(settings);
      case 'kubernetes':
        return kubernetesPlaceholders(settings);
    }
  })();
  return [...new Set(names)];
}

/**
 * Whether a dry run changes nothing. sql and kubernetes always have one; command needs dryRunArgv and http a
 * dryRun block, without which a dry run makes the real call: the caller must not offer one then.
 */
export function supportsDryRun(settings: DriverSettings): boolean {
  switch (settings.type) {
    case 'command':
      return settings.dryRunArgv !== undefined;
    case 'http':
      return settings.dryRun !== undefined;
    case 'sql':
    case 'kubernetes':
      return true;
  }
}

/** The env vars whose values are secrets: a command's marked secret: true, http headers', sql's connection. */
export function secretEnvOf(settings: DriverSettings): string[] {
  switch (settings.type) {
    case 'command':
      return commandSecretEnv(settings);
    case 'http':
      return httpSecretEnv(settings);
    case 'sql':
      return [settings.connectionEnv];
    case 'kubernetes':
      return [];
  }
}

/**
 * The params whose value begins an argv element, where one starting with "-" would reach the program as an
 * option. Only a command has an argv: elsewhere a param is a URL-encoded path part, a JSON value, a bind
 * parameter or a Kubernetes field, never read as an option.
 */
export function optionParamsOf(settings: DriverSettings): string[] {
  return settings.type === 'command' ? [...new Set(commandOptionParams(settings))] : [];
}
