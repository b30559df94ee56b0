import { z } from 'zod';
import { CommandSettingsSchema, commandPlaceholders, createCommandDriver } from './command.js';
import type { Driver } from './driver.js';
import { createHttpDriver, HttpSettingsSchema, httpPlaceholders } from './http.js';
import { createKubernetesDriver, KubernetesSettingsSchema, kubernetesPlaceholders } from './kubernetes.js';
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

export function createDriver(settings: DriverSettings): Driver {
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
