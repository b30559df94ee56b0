import type { ActionDefinition } from '../config/catalog.js';
import type { FileConfig } from '../config/file.js';

/** The catalog's definition of `action` on `service`, if the config has it. */
export function findAction(
  config: FileConfig,
  service: string,
  action: string,
): ActionDefinition | undefined {
  return config.services[service]?.actions.find((a) => a.name === action);
}
