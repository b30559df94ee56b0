import { readFile } from 'node:fs/promises';
import { type Document, isScalar, LineCounter, parseDocument } from 'yaml';
import { z } from 'zod';
import { ActionSchema } from '../actions/catalog.js';
import { ActionsConfigSchema } from '../actions/configSchema.js';
import { AlertmanagerConfigSchema } from '../alertmanager/configSchema.js';
import { AlertsConfigSchema, HeartbeatConfigSchema, RoutesSchema } from '../alerts/configSchema.js';
import { EscalationConfigSchema } from '../escalation/configSchema.js';
import { ServiceChecksSchema } from '../health/checkSchema.js';
import { IncidentsConfigSchema } from '../incidents/configSchema.js';
import { type PagersConfig, PagersConfigSchema, pagerNames } from '../paging/configSchema.js';
import { PlaybooksConfigSchema } from '../playbooks/configSchema.js';
import { playbookProblems } from '../playbooks/playbooks.js';
import { dataRecord } from '../primitives/records.js';
import { SilencesConfigSchema } from '../silences/configSchema.js';
import { SlackConfigSchema } from '../slack/configSchema.js';
import { ConfigError, formatZodIssues, requiredMessage } from './errors.js';

/** `services` in the YAML config: each service's health checks and the remediation actions it offers. */
const ServiceSchema = z
  .object({
    checks: ServiceChecksSchema.default([]),
    actions: z.array(ActionSchema).default([]),
  })
  .strict()
  .superRefine((service, ctx) => {
    const seen = new Set<string>();
    service.actions.forEach((action, i) => {
      if (seen.has(action.name))
        ctx.addIssue({
          code: 'custom',
          path: ['actions', i, 'name'],
          message: `${action.name} is listed twice`,
        });
      seen.add(action.name);
    });
  });

// Looked up by names from outside (slash commands, buttons, queued jobs): see dataRecord.
const ServicesSchema = dataRecord(
  z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'expected a service name like payments-api'),
  ServiceSchema,
).prefault({});

// Each section's schema belongs to the module that reads it; the file as a whole is checked here, at boot.
const FileSchema = z
  .object({
    slack: SlackConfigSchema,
    alerts: AlertsConfigSchema,
    incidents: IncidentsConfigSchema,
    services: ServicesSchema,
    actions: ActionsConfigSchema,
    routes: RoutesSchema,
    alertmanager: AlertmanagerConfigSchema,
    silences: SilencesConfigSchema,
    heartbeat: HeartbeatConfigSchema.optional(),
    escalation: EscalationConfigSchema,
    pagers: PagersConfigSchema,
    playbooks: PlaybooksConfigSchema,
  })
  .strict()
  .superRefine((file, ctx) => {
    // A playbook names a service of the catalog, and checks, actions and params of that service.
    for (const { path, message } of playbookProblems(file)) ctx.addIssue({ code: 'custom', path, message });
    // An escalation step pages through a pager of this file's `pagers:`.
    const pagers = new Set(pagerNames(file));
    // Policies with problems of their own (the record unbuilt) are told about those first.
    const policies: unknown = file.escalation?.policies;
    if (typeof policies !== 'object' || policies === null || policies instanceof Map) return;
    for (const [name, policy] of Object.entries(file.escalation.policies))
      policy.steps.forEach((step, i) => {
        if (step.page !== undefined && !pagers.has(step.page))
          ctx.addIssue({
            code: 'custom',
            path: ['escalation', 'policies', name, 'steps', i, 'page'],
            message: `no pager ${step.page} in pagers`,
          });
      });
  });

export type FileConfig = z.infer<typeof FileSchema>;

/**
 * Two keys of one map that JavaScript would make one property (`1` and `"1"`, `true` and `"true"`) are
 * the same key: YAML compares their values, and the later would silently replace the earlier.
 */
const sameKey = (a: unknown, b: unknown) => keyOf(a) === keyOf(b);
/** A map key as toJS makes it a property name: null (`~`, `null`) is ''. */
const keyOf = (key: unknown) => {
  const value = isScalar(key) ? key.value : key;
  return value === null ? '' : String(value);
};

/** The document's content, or why there is none: an alias to no anchor, or aliases past YAML's bound. */
function contentOf(doc: Document): { content: unknown } | { problem: string } {
  try {
    return { content: doc.toJS() };
  } catch (err) {
    return { problem: (err as Error).message.split('\n')[0]! };
  }
}

export function parseFileConfig(source: string, text: string): FileConfig {
  const lines = new LineCounter();
  const doc = parseDocument(text, { prettyErrors: false, lineCounter: lines, uniqueKeys: sameKey });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      source,
      doc.errors.map((e) => `line ${lines.linePos(e.pos[0]).line}: ${e.message.split('\n')[0]}`),
    );
  }
  const read = contentOf(doc);
  if ('problem' in read) throw new ConfigError(source, [read.problem]);
  const result = FileSchema.safeParse(read.content ?? {}, requiredMessage);
  if (!result.success) throw new ConfigError(source, formatZodIssues(result.error));
  return result.data;
}

export async function loadFileConfig(path: string): Promise<FileConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    throw new ConfigError(path, [
      `cannot read the config file: ${(err as NodeJS.ErrnoException).code ?? err}`,
    ]);
  }
  return parseFileConfig(path, text);
}

/**
 * The file's `pagers` section alone, if it is valid, for a file that is not: the env vars it names are
 * checked all the same, so that one run tells every problem.
 */
export async function loadPagersSection(path: string): Promise<PagersConfig | undefined> {
  const text = await readFile(path, 'utf8').catch(() => undefined);
  const doc =
    text === undefined ? undefined : parseDocument(text, { prettyErrors: false, uniqueKeys: sameKey });
  if (!doc || doc.errors.length > 0) return undefined;
  const read = contentOf(doc);
  if ('problem' in read) return undefined;
  const { content } = read;
  const section =
    content && typeof content === 'object' ? (content as { pagers?: unknown }).pagers : undefined;
  const pagers = PagersConfigSchema.safeParse(section);
  return pagers.success ? pagers.data : undefined;
}
