import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { DriverRun } from '../../../src/actions/drivers/driver.js';
import { createDriver, placeholdersOf } from '../../../src/actions/drivers/index.js';
import { KubernetesSettingsSchema } from '../../../src/actions/drivers/kubernetes.js';

const TOKEN = 'sa-token-5e4d3c2b1a';
const APPS = '/apis/apps/v1/namespaces/prod';

interface Recorded {
  method: string;
  path: string;
  query: Record<string, string>;
  contentType?: string;
  authorization?: string;
  body?: unknown;
}

const template = (image: string, hash?: string) => ({
  metadata: {
    creationTimestamp: null,
    labels: { app: 'payments-api', ...(hash && { 'pod-template-hash': hash }) },
  },
  spec: {
    containers: [{ name: 'app', image, env: [{ name: 'LOG_LEVEL', value: 'info' }], resources: {} }],
    // A field newer than the client's models: a roll-back must carry it over.
    futureField: { enabled: true },
  },
});

const deployment = {
  apiVersion: 'apps/v1',
  kind: 'Deployment',
  metadata: {
    name: 'payments-api',
    namespace: 'prod',
    uid: 'dep-uid',
    annotations: { 'deployment.kubernetes.io/revision': '7', 'kubernetes.io/change-cause': 'deploy 2.0' },
  },
  spec: {
    replicas: 3,
    selector: { matchLabels: { app: 'payments-api' } },
    template: template('repo/payments:2.0'),
  },
};

const worker = {
  ...deployment,
  metadata: { ...deployment.metadata, name: 'worker', uid: 'worker-uid' },
  spec: {
    ...deployment.spec,
    template: { spec: { containers: [{ name: 'main' }, { name: 'sidecar' }] } },
  },
};

const replicaSet = (
  name: string,
  revision: number,
  image: string,
  owner = 'dep-uid',
  changeCause?: string,
) => ({
  metadata: {
    name,
    annotations: {
      'deployment.kubernetes.io/revision': String(revision),
      'deployment.kubernetes.io/desired-replicas': '3',
      ...(changeCause && { 'kubernetes.io/change-cause': changeCause }),
    },
    ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'x', uid: owner, controller: true }],
  },
  spec: { replicas: 0, template: template(image, name.slice(-5)) },
});

const replicaSets = {
  apiVersion: 'apps/v1',
  kind: 'ReplicaSetList',
  metadata: {},
  items: [
    replicaSet('payments-api-aaaa5', 5, 'repo/payments:1.8'),
    replicaSet('payments-api-bbbb7', 7, 'repo/payments:2.0'),
    replicaSet('payments-api-cccc6', 6, 'repo/payments:1.9', 'dep-uid', 'deploy 1.9'),
    // Matches the selector but belongs to another deployment: never a candidate.
    replicaSet('payments-api-dddd9', 9, 'repo/other:9', 'someone-else'),
  ],
};

let server: Server;
let dir: string;
let requests: Recorded[] = [];
let savedKubeconfig: string | undefined;

/** Answers the few API paths the driver uses, as the API server would (without persisting anything). */
function answer(method: string, path: string, body: unknown): [number, unknown] | undefined {
  const scale = (replicas: number) => ({
    kind: 'Scale',
    apiVersion: 'autoscaling/v1',
    metadata: { name: 'payments-api', namespace: 'prod' },
    spec: { replicas },
    status: { replicas: 3 },
  });
  if (path === `${APPS}/deployments/slow`) return undefined;
  if (method === 'GET' && path === `${APPS}/deployments/payments-api`) return [200, deployment];
  if (method === 'GET' && path === `${APPS}/deployments/worker`) return [200, worker];
  if (method === 'GET' && path === `${APPS}/deployments/payments-api/scale`) return [200, scale(3)];
  if (method === 'PATCH' && path === `${APPS}/deployments/payments-api/scale`) {
    return [200, scale((body as { spec: { replicas: number } }).spec.replicas)];
  }
  if (method === 'PATCH' && path === `${APPS}/deployments/payments-api`) return [200, deployment];
  if (method === 'GET' && path === `${APPS}/replicasets`) return [200, replicaSets];
  const name = path.split('/').at(-1);
  return [
    404,
    {
      kind: 'Status',
      apiVersion: 'v1',
      status: 'Failure',
      message: `deployments.apps "${name}" not found`,
      code: 404,
    },
  ];
}

beforeAll(async () => {
  server = createServer((req, res) => {
    let text = '';
    req.on('data', (chunk) => {
      text += chunk;
    });
    req.on('end', () => {
      const url = new URL(req.url!, 'http://x');
      const body = text ? JSON.parse(text) : undefined;
      requests.push({
        method: req.method!,
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        contentType: req.headers['content-type'],
        authorization: req.headers.authorization,
        body,
      });
      const reply = answer(req.method!, url.pathname, body);
      if (!reply) return; // hangs
      res.writeHead(reply[0], { 'content-type': 'application/json' }).end(JSON.stringify(reply[1]));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  // Plain http needs insecure-skip-tls-verify in @kubernetes/client-node; a real cluster is https.
  dir = await mkdtemp(join(tmpdir(), 'kube-driver-'));
  const kubeconfig = join(dir, 'config');
  await writeFile(
    kubeconfig,
    `apiVersion: v1
kind: Config
clusters:
  - name: fake
    cluster:
      server: http://127.0.0.1:${port}
      insecure-skip-tls-verify: true
users:
  - name: incident-bot
    user:
      token: ${TOKEN}
contexts:
  - name: fake
    context: { cluster: fake, user: incident-bot }
current-context: fake
`,
  );
  // The driver reads its configuration as the bot does: KubeConfig.loadFromDefault().
  savedKubeconfig = process.env.KUBECONFIG;
  process.env.KUBECONFIG = kubeconfig;
});
afterAll(async () => {
  if (savedKubeconfig === undefined) delete process.env.KUBECONFIG;
  else process.env.KUBECONFIG = savedKubeconfig;
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});
beforeEach(() => {
  requests = [];
});

function kubeDriver(settings: Record<string, unknown>) {
  return createDriver(
    KubernetesSettingsSchema.parse({
      type: 'kubernetes',
      namespace: 'prod',
      deployment: 'payments-api',
      ...settings,
    }),
  );
}

function runOf(overrides: Partial<DriverRun> = {}): DriverRun {
  return {
    params: {},
    dryRun: false,
    timeoutMs: 10_000,
    signal: new AbortController().signal,
    env: {},
    secrets: [],
    ...overrides,
  };
}

const calls = () => requests.map((r) => `${r.method} ${r.path}`);

describe('kubernetes driver', () => {
  it('scales through the scale subresource, with the bot’s token', async () => {
    const result = await kubeDriver({ operation: 'scale', replicas: 6 }).run(runOf());

    expect(result).toMatchObject({
      ok: true,
      summary: 'scaled deployment prod/payments-api from 3 to 6 replicas',
    });
    expect(calls()).toEqual([
      `GET ${APPS}/deployments/payments-api/scale`,
      `PATCH ${APPS}/deployments/payments-api/scale`,
    ]);
    expect(requests[1]).toMatchObject({
      contentType: 'application/merge-patch+json',
      query: { fieldManager: 'incident-bot' },
      body: { spec: { replicas: 6 } },
    });
    expect(requests.every((r) => r.authorization === `Bearer ${TOKEN}`)).toBe(true);
    expect(JSON.stringify(result)).not.toContain(TOKEN);
  });

  it('dry-runs a scale to a param with dryRun=All', async () => {
    const driver = kubeDriver({ operation: 'scale', replicas: '{{replicas}}' });
    const result = await driver.run(runOf({ params: { replicas: 5 }, dryRun: true }));

    expect(result).toMatchObject({
      ok: true,
      summary: 'dry run: would scale deployment prod/payments-api from 3 to 5 replicas',
    });
    expect(requests[1]).toMatchObject({
      method: 'PATCH',
      query: { dryRun: 'All', fieldManager: 'incident-bot' },
    });
    expect(requests[1]!.body).toEqual({ spec: { replicas: 5 } });
  });

  it('refuses replicas that are not a whole number, before any call', async () => {
    const result = await kubeDriver({ operation: 'scale', replicas: '{{replicas}}' }).run(
      runOf({ params: { replicas: '-1' } }),
    );
    expect(result).toMatchObject({
      ok: false,
      summary: 'replicas must be a whole number of 0 or more, got "-1"',
    });
    expect(requests).toEqual([]);
  });

  it('sets env vars on the container with a strategic merge patch (the degradation flag)', async () => {
    const driver = kubeDriver({ operation: 'set-env', env: { EVENT_BUS_OPTIONAL: '1', LOG_LEVEL: 'info' } });
    const result = await driver.run(runOf());

    expect(result).toMatchObject({
      ok: true,
      summary:
        'set EVENT_BUS_OPTIONAL=1 LOG_LEVEL=info on deployment prod/payments-api (container app; pods roll)',
    });
    expect(calls()).toEqual([
      `GET ${APPS}/deployments/payments-api`,
      `PATCH ${APPS}/deployments/payments-api`,
    ]);
    // LOG_LEVEL already has that value, so only EVENT_BUS_OPTIONAL is patched.
    expect(requests[1]).toMatchObject({
      contentType: 'application/strategic-merge-patch+json',
      query: { fieldManager: 'incident-bot' },
      body: {
        spec: {
          template: {
            spec: {
              containers: [
                { name: 'app', env: [{ name: 'EVENT_BUS_OPTIONAL', value: '1', valueFrom: null }] },
              ],
            },
          },
        },
      },
    });
    expect(result.output).toContain('container app: EVENT_BUS_OPTIONAL: (unset) → 1');

    const dry = await driver.run(runOf({ dryRun: true }));
    expect(dry.summary).toMatch(/^dry run: would set EVENT_BUS_OPTIONAL=1/);
    expect(requests.at(-1)!.query).toEqual({ dryRun: 'All', fieldManager: 'incident-bot' });
  });

  it('asks which container when the pod has several', async () => {
    const result = await kubeDriver({ operation: 'set-env', deployment: 'worker', env: { A: '1' } }).run(
      runOf(),
    );
    expect(result).toMatchObject({
      ok: false,
      summary: 'deployment prod/worker has 2 containers (main, sidecar): name one with container',
    });
    expect(calls()).toEqual([`GET ${APPS}/deployments/worker`]);
  });

  it('restarts the rollout by annotating the pod template', async () => {
    const before = Date.now();
    const result = await kubeDriver({ operation: 'rollout-restart' }).run(runOf({ dryRun: true }));

    expect(result).toMatchObject({
      ok: true,
      summary: 'dry run: would restart deployment prod/payments-api (3 replicas roll)',
    });
    expect(calls()).toEqual([`PATCH ${APPS}/deployments/payments-api`]);
    expect(requests[0]).toMatchObject({
      contentType: 'application/strategic-merge-patch+json',
      query: { dryRun: 'All' },
    });
    const annotations = (
      requests[0]!.body as { spec: { template: { metadata: { annotations: Record<string, string> } } } }
    ).spec.template.metadata.annotations;
    expect(Object.keys(annotations)).toEqual(['kubectl.kubernetes.io/restartedAt']);
    expect(Date.parse(annotations['kubectl.kubernetes.io/restartedAt']!)).toBeGreaterThanOrEqual(
      before - 1000,
    );
  });

  it('rolls back to the previous revision of its own ReplicaSets, as kubectl rollout undo does', async () => {
    const result = await kubeDriver({ operation: 'rollout-undo' }).run(runOf());

    expect(result).toMatchObject({
      ok: true,
      summary: 'rolled back deployment prod/payments-api from revision 7 to 6 (app: repo/payments:1.9)',
    });
    expect(calls()).toEqual([
      `GET ${APPS}/deployments/payments-api`,
      `GET ${APPS}/replicasets`,
      `PATCH ${APPS}/deployments/payments-api`,
    ]);
    expect(requests[1]!.query).toEqual({ labelSelector: 'app=payments-api' });
    expect(requests[2]).toMatchObject({
      contentType: 'application/json-patch+json',
      query: { fieldManager: 'incident-bot' },
    });
    // Revision 6's template without the ReplicaSet's hash label, unknown fields included; its change-cause.
    expect(requests[2]!.body).toEqual([
      { op: 'replace', path: '/spec/template', value: template('repo/payments:1.9') },
      {
        op: 'replace',
        path: '/metadata/annotations',
        value: { 'deployment.kubernetes.io/revision': '7', 'kubernetes.io/change-cause': 'deploy 1.9' },
      },
    ]);
    expect(result.output).toContain('images: app: repo/payments:2.0 → app: repo/payments:1.9');

    await kubeDriver({ operation: 'rollout-undo' }).run(runOf({ dryRun: true }));
    expect(requests.at(-1)).toMatchObject({
      method: 'PATCH',
      query: { dryRun: 'All', fieldManager: 'incident-bot' },
    });
  });

  it('reports what the API server answers for a missing deployment', async () => {
    const result = await kubeDriver({ operation: 'rollout-restart', deployment: 'nope' }).run(runOf());
    expect(result).toMatchObject({
      ok: false,
      summary: 'deployment prod/nope: the API server answered 404: deployments.apps "nope" not found',
    });
  });

  it("says where a kubeconfig is broken, and shows none of it (a token's line, an alias's name)", async () => {
    const broken = join(dir, 'broken');
    const token = 'sa-token-9f8e7d6c5b4a3210fedcba9876543210';
    const saved = process.env.KUBECONFIG;
    process.env.KUBECONFIG = broken;
    try {
      for (const [user, at] of [
        [`      token: ${token}\n     client-key-data: x`, 'line 7, column 6'],
        // An unquoted password starting with * is read as an alias, which js-yaml names.
        [`      password: *${token}`, 'line 6, column 59'],
      ]) {
        await writeFile(broken, `apiVersion: v1\nkind: Config\nusers:\n  - name: bot\n    user:\n${user}\n`);
        const result = await kubeDriver({ operation: 'rollout-restart' }).run(runOf({ dryRun: true }));
        expect(result).toMatchObject({
          ok: false,
          summary: `dry run: no usable Kubernetes configuration: the file does not parse as YAML at ${at}`,
        });
        expect(JSON.stringify(result)).not.toContain(token.slice(0, 12));
      }
    } finally {
      process.env.KUBECONFIG = saved;
    }
  });

  it('times out a call that does not answer', async () => {
    const result = await kubeDriver({ operation: 'rollout-undo', deployment: 'slow' }).run(
      runOf({ timeoutMs: 300 }),
    );
    expect(result).toMatchObject({ ok: false, summary: 'timed out after 300 ms' });
  });

  it('keeps the target fixed in the config, and lists the placeholders used', () => {
    const problems = (settings: Record<string, unknown>) =>
      KubernetesSettingsSchema.safeParse({
        type: 'kubernetes',
        namespace: 'prod',
        deployment: 'api',
        ...settings,
      }).error?.issues.map((i) => i.message);
    expect(problems({ operation: 'rollout-restart', deployment: '{{deployment}}' })).toEqual([
      'expected a Kubernetes name like payments-api',
    ]);
    expect(problems({ operation: 'scale', replicas: 'x{{n}}' })).toEqual([
      'expected a number of replicas or one {{param}}',
    ]);
    expect(problems({ operation: 'set-env', env: {} })).toEqual(['expected at least one variable']);
    expect(problems({ operation: 'delete' })).toHaveLength(1);

    const scale = KubernetesSettingsSchema.parse({
      type: 'kubernetes',
      operation: 'scale',
      namespace: 'prod',
      deployment: 'api',
      replicas: '{{replicas}}',
    });
    expect(placeholdersOf(scale)).toEqual(['replicas']);
    const setEnv = KubernetesSettingsSchema.parse({
      type: 'kubernetes',
      operation: 'set-env',
      namespace: 'prod',
      deployment: 'api',
      env: { EVENT_BUS_OPTIONAL: '{{on}}', REASON: 'incident {{incident}}' },
    });
    expect(placeholdersOf(setEnv)).toEqual(['on', 'incident']);
  });
});
