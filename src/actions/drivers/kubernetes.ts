import { isDeepStrictEqual } from 'node:util';
import type * as K8s from '@kubernetes/client-node';
import { z } from 'zod';
import {
  capText,
  type Driver,
  type DriverResult,
  type DriverRun,
  type ParamValue,
  startDeadline,
} from './driver.js';
import { EnvName, fill, paramValue, placeholdersIn, Template, wholePlaceholder } from './placeholders.js';

/**
 * Acts on a Deployment the way kubectl does (scale, set env, rollout restart, rollout undo), through the API
 * server with the bot's own credentials: the in-cluster service account, or KUBECONFIG. A dry run sends the
 * same writes with dryRun=All, so the API server validates them and answers what would change.
 * The deployment and namespace are fixed in the config: a param may set replicas and env values, never
 * which workload is touched.
 */

const DnsLabel = z
  .string()
  .regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'expected a Kubernetes name like payments-api');
const DnsSubdomain = z
  .string()
  .max(253)
  .regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'expected a Kubernetes name like payments-api');

const Target = { type: z.literal('kubernetes'), deployment: DnsSubdomain, namespace: DnsLabel };

export const KubernetesSettingsSchema = z.discriminatedUnion('operation', [
  z
    .object({
      ...Target,
      operation: z.literal('scale'),
      replicas: z.union([
        z.number().int().min(0),
        z
          .string()
          .regex(/^\{\{[a-zA-Z_][a-zA-Z0-9_]*\}\}$/, 'expected a number of replicas or one {{param}}'),
      ]),
    })
    .strict(),
  z
    .object({
      ...Target,
      operation: z.literal('set-env'),
      // Needed when the pod has several containers.
      container: DnsLabel.optional(),
      env: z
        .record(EnvName, Template)
        .refine((env) => Object.keys(env).length > 0, 'expected at least one variable'),
    })
    .strict(),
  z.object({ ...Target, operation: z.literal('rollout-restart') }).strict(),
  z.object({ ...Target, operation: z.literal('rollout-undo') }).strict(),
]);

export type KubernetesSettings = z.output<typeof KubernetesSettingsSchema>;

export function kubernetesPlaceholders(settings: KubernetesSettings): string[] {
  switch (settings.operation) {
    case 'scale':
      return typeof settings.replicas === 'string' ? placeholdersIn(settings.replicas) : [];
    case 'set-env':
      return Object.values(settings.env).flatMap(placeholdersIn);
    default:
      return [];
  }
}

export function createKubernetesDriver(settings: KubernetesSettings): Driver {
  return {
    type: 'kubernetes',
    run: (run) => runKubernetes(settings, run),
  };
}

const REVISION = 'deployment.kubernetes.io/revision';
const RESTARTED_AT = 'kubectl.kubernetes.io/restartedAt';
const POD_TEMPLATE_HASH = 'pod-template-hash';
const FIELD_MANAGER = 'incident-bot';
// Deployment annotations that `kubectl rollout undo` keeps instead of taking the ReplicaSet's.
const ANNOTATIONS_TO_SKIP = new Set([
  'kubectl.kubernetes.io/last-applied-configuration',
  REVISION,
  'deployment.kubernetes.io/revision-history',
  'deployment.kubernetes.io/desired-replicas',
  'deployment.kubernetes.io/max-replicas',
  'deprecated.deployment.rollback.to',
]);

// The few fields read here, as the API server sends them.
interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: unknown;
}
interface PodTemplate {
  metadata?: { labels?: Record<string, string>; annotations?: Record<string, string> };
  spec?: { containers?: Array<{ name: string; image?: string; env?: EnvVar[] }> };
}
interface Metadata {
  uid?: string;
  annotations?: Record<string, string>;
  ownerReferences?: Array<{ uid: string; controller?: boolean }>;
}
interface LabelSelector {
  matchLabels?: Record<string, string>;
  matchExpressions?: Array<{ key: string; operator: string; values?: string[] }>;
}
interface Deployment {
  metadata?: Metadata;
  spec?: { replicas?: number; paused?: boolean; selector?: LabelSelector; template?: PodTemplate };
}
interface ReplicaSet {
  metadata?: Metadata;
  spec?: { template?: PodTemplate };
}
interface Scale {
  spec?: { replicas?: number };
}

interface Outcome {
  ok: boolean;
  summary: string;
}

/**
 * Sends one API call and answers the response's JSON as the server sent it: the client's typed models drop
 * fields this client version does not know, and a rollback must carry the old template over whole.
 */
type Call = <T>(
  send: (options: K8s.ConfigurationOptions) => Promise<unknown>,
  patch?: keyof typeof K8s.PatchStrategy,
) => Promise<T>;

let client: Promise<typeof K8s> | undefined;
/** The Kubernetes client costs about 80 MB of memory: it is loaded when a kubernetes action first runs. */
const kubernetesClient = () => {
  client ??= import('@kubernetes/client-node');
  return client;
};

function caller(k8s: typeof K8s, signal: AbortSignal): Call {
  const { Observable } = k8s;
  return async <T>(
    send: (options: K8s.ConfigurationOptions) => Promise<unknown>,
    patch?: keyof typeof K8s.PatchStrategy,
  ) => {
    let json: unknown;
    const middleware: K8s.ObservableMiddleware = {
      pre: (request) => {
        request.setSignal(signal);
        return new Observable(Promise.resolve(request));
      },
      post: (response) =>
        new Observable(
          response.body.text().then((text) => {
            try {
              json = JSON.parse(text);
            } catch {
              // not JSON (an error page): the client raises the status with the text
            }
            response.body = { text: async () => text, binary: async () => Buffer.from(text) };
            return response;
          }),
        ),
    };
    const options: K8s.ConfigurationOptions = { middleware: [middleware], middlewareMergeStrategy: 'append' };
    await send(patch ? k8s.setHeaderOptions('Content-Type', k8s.PatchStrategy[patch], options) : options);
    return json as T;
  };
}

function apiFailure(k8s: typeof K8s, err: unknown): string {
  if (err instanceof k8s.ApiException) {
    let message: string | undefined;
    try {
      message = JSON.parse(String(err.body)).message;
    } catch {
      message = typeof err.body === 'string' && err.body ? err.body.slice(0, 300) : undefined;
    }
    return `the API server answered ${err.code}${message ? `: ${message}` : ''}`;
  }
  return `cannot reach the API server: ${(err as Error).message}`;
}

function replicasWanted(
  replicas: number | string,
  params: Record<string, ParamValue>,
): number | { error: string } {
  const value = typeof replicas === 'number' ? replicas : paramValue(params, wholePlaceholder(replicas)!);
  const n = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : value;
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < 0) {
    return { error: `replicas must be a whole number of 0 or more, got ${JSON.stringify(value)}` };
  }
  return n;
}

function selectorText(selector: LabelSelector | undefined): string {
  const parts = Object.entries(selector?.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const { key, operator, values = [] } of selector?.matchExpressions ?? []) {
    if (operator === 'In') parts.push(`${key} in (${values.join(',')})`);
    else if (operator === 'NotIn') parts.push(`${key} notin (${values.join(',')})`);
    else if (operator === 'Exists') parts.push(key);
    else if (operator === 'DoesNotExist') parts.push(`!${key}`);
  }
  return parts.join(',');
}

function withoutHash(template: PodTemplate | undefined): PodTemplate {
  const copy = structuredClone(template ?? {});
  if (copy.metadata?.labels) delete copy.metadata.labels[POD_TEMPLATE_HASH];
  return copy;
}

function images(template: PodTemplate | undefined): string {
  return (template?.spec?.containers ?? []).map((c) => `${c.name}: ${c.image ?? '?'}`).join(', ');
}

async function runKubernetes(settings: KubernetesSettings, run: DriverRun): Promise<DriverResult> {
  const prefix = run.dryRun ? 'dry run: ' : '';
  const target = `deployment ${settings.namespace}/${settings.deployment}`;
  const k8s = await kubernetesClient();
  let apps: K8s.AppsV1Api;
  try {
    const config = new k8s.KubeConfig();
    config.loadFromDefault();
    apps = config.makeApiClient(k8s.AppsV1Api);
  } catch (err) {
    // A YAML error quotes the file (the lines around it, an alias's or a tag's name): its place only.
    // Any other, its first line.
    const e = err as Error & { mark?: { line: number; column: number } };
    const reason =
      e.name === 'YAMLException' && e.mark
        ? `the file does not parse as YAML at line ${e.mark.line + 1}, column ${e.mark.column + 1}`
        : e.message.split('\n')[0];
    return { ok: false, output: '', summary: `${prefix}no usable Kubernetes configuration: ${reason}` };
  }
  const deadline = startDeadline(run);
  const lines: string[] = [];
  try {
    const outcome = await operate(settings, apps, caller(k8s, deadline.signal), run, lines, target);
    return { ok: outcome.ok, output: capText(lines.join('\n')), summary: `${prefix}${outcome.summary}` };
  } catch (err) {
    const stopped = deadline.reason();
    const summary = stopped ?? `${prefix}${target}: ${apiFailure(k8s, err)}`;
    lines.push(stopped ?? apiFailure(k8s, err));
    return { ok: false, output: capText(lines.join('\n')), summary };
  } finally {
    deadline.dispose();
  }
}

async function operate(
  settings: KubernetesSettings,
  apps: K8s.AppsV1Api,
  call: Call,
  run: DriverRun,
  lines: string[],
  target: string,
): Promise<Outcome> {
  const { deployment: name, namespace } = settings;
  const write = { name, namespace, fieldManager: FIELD_MANAGER, ...(run.dryRun && { dryRun: 'All' }) };
  const would = (done: string, dry: string) => (run.dryRun ? dry : done);
  const readDeployment = () => call<Deployment>((o) => apps.readNamespacedDeployment({ name, namespace }, o));

  switch (settings.operation) {
    case 'scale': {
      const replicas = replicasWanted(settings.replicas, run.params);
      if (typeof replicas !== 'number') return { ok: false, summary: replicas.error };
      const before = await call<Scale>((o) => apps.readNamespacedDeploymentScale({ name, namespace }, o));
      const from = before.spec?.replicas ?? 0;
      lines.push(`${target}: ${from} replicas`);
      if (from === replicas)
        return { ok: true, summary: `${target} already has ${replicas} replicas: nothing to change` };
      const after = await call<Scale>(
        (o) => apps.patchNamespacedDeploymentScale({ ...write, body: { spec: { replicas } } }, o),
        'MergePatch',
      );
      lines.push(`${would('scaled', 'would scale')} to ${after.spec?.replicas ?? replicas} replicas`);
      return {
        ok: true,
        summary: `${would('scaled', 'would scale')} ${target} from ${from} to ${replicas} replicas`,
      };
    }

    case 'set-env': {
      const current = await readDeployment();
      const containers = current.spec?.template?.spec?.containers ?? [];
      const container = settings.container
        ? containers.find((c) => c.name === settings.container)
        : containers.length === 1
          ? containers[0]
          : undefined;
      if (!container) {
        const names = containers.map((c) => c.name).join(', ');
        return {
          ok: false,
          summary: settings.container
            ? `${target} has no container ${settings.container} (it has ${names})`
            : `${target} has ${containers.length} containers (${names}): name one with container`,
        };
      }
      const wanted = Object.entries(settings.env).map(
        ([key, template]) => [key, fill(template, run.params)] as const,
      );
      const changes = wanted.filter(([key, value]) => {
        const existing = container.env?.find((e) => e.name === key);
        return existing?.value !== value || existing.valueFrom !== undefined;
      });
      const shown = wanted.map(([key, value]) => `${key}=${value}`).join(' ');
      if (changes.length === 0) {
        return {
          ok: true,
          summary: `${target} already has ${shown} on ${container.name}: nothing to change`,
        };
      }
      for (const [key, value] of changes) {
        const existing = container.env?.find((e) => e.name === key);
        const was =
          existing === undefined ? '(unset)' : existing.valueFrom ? '(from a reference)' : existing.value;
        lines.push(`container ${container.name}: ${key}: ${was} → ${value}`);
      }
      // A strategic merge patch merges env by name; valueFrom: null drops a reference the value replaces.
      const env = changes.map(([key, value]) => ({ name: key, value, valueFrom: null }));
      const body = { spec: { template: { spec: { containers: [{ name: container.name, env }] } } } };
      await call((o) => apps.patchNamespacedDeployment({ ...write, body }, o), 'StrategicMergePatch');
      lines.push(
        `${would('changed', 'would change')} the pod template: the pods ${would('roll', 'would roll')}`,
      );
      return {
        ok: true,
        summary: `${would('set', 'would set')} ${shown} on ${target} (container ${container.name}; pods roll)`,
      };
    }

    case 'rollout-restart': {
      const body = {
        spec: { template: { metadata: { annotations: { [RESTARTED_AT]: new Date().toISOString() } } } },
      };
      const after = await call<Deployment>(
        (o) => apps.patchNamespacedDeployment({ ...write, body }, o),
        'StrategicMergePatch',
      );
      lines.push(
        `${would('set', 'would set')} ${RESTARTED_AT}=${body.spec.template.metadata.annotations[RESTARTED_AT]}`,
      );
      if (after.spec?.paused)
        return { ok: false, summary: `${target} is paused: pods roll only once it is resumed` };
      const replicas = after.spec?.replicas ?? 0;
      return {
        ok: true,
        summary: `${would('restarted', 'would restart')} ${target} (${replicas} replicas roll)`,
      };
    }

    case 'rollout-undo': {
      const current = await readDeployment();
      if (current.spec?.paused)
        return { ok: false, summary: `${target} is paused: resume it before rolling back` };
      const labelSelector = selectorText(current.spec?.selector);
      const list = await call<{ items?: ReplicaSet[] }>((o) =>
        apps.listNamespacedReplicaSet({ namespace, labelSelector }, o),
      );
      const revision = (rs: ReplicaSet) => Number(rs.metadata?.annotations?.[REVISION]);
      const owned = (list.items ?? [])
        .filter((rs) =>
          rs.metadata?.ownerReferences?.some((ref) => ref.controller && ref.uid === current.metadata?.uid),
        )
        .filter((rs) => Number.isSafeInteger(revision(rs)))
        .sort((a, b) => revision(b) - revision(a));
      lines.push(`${target}: revisions ${owned.map(revision).join(', ') || 'none'}`);
      const [latest, previous] = owned;
      if (!latest || !previous)
        return { ok: false, summary: `${target} has no previous revision to roll back to` };
      const from = revision(latest);
      const to = revision(previous);
      const template = withoutHash(previous.spec?.template);
      if (isDeepStrictEqual(template, withoutHash(current.spec?.template))) {
        return {
          ok: true,
          summary: `${target} already runs the template of revision ${to}: nothing to roll back`,
        };
      }
      const annotations: Record<string, string> = {};
      for (const [key, value] of Object.entries(current.metadata?.annotations ?? {})) {
        if (ANNOTATIONS_TO_SKIP.has(key)) annotations[key] = value;
      }
      for (const [key, value] of Object.entries(previous.metadata?.annotations ?? {})) {
        if (!ANNOTATIONS_TO_SKIP.has(key)) annotations[key] = value;
      }
      const body = [
        { op: 'replace', path: '/spec/template', value: template },
        { op: 'replace', path: '/metadata/annotations', value: annotations },
      ];
      await call((o) => apps.patchNamespacedDeployment({ ...write, body }, o), 'JsonPatch');
      lines.push(`images: ${images(current.spec?.template)} → ${images(template)}`);
      return {
        ok: true,
        summary: `${would('rolled back', 'would roll back')} ${target} from revision ${from} to ${to} (${images(template)})`,
      };
    }
  }
}
