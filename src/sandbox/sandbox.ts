import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { ingestedOutcome } from '../alerts/deliveries.js';
import { groupChannel } from '../alerts/routing.js';
import { type Config, type FileConfig, SANDBOX_CONFIG_PATH } from '../config/index.js';
import type { Handler } from '../http/server.js';
import { type Logger, redactUrlPasswords } from '../observability/logger.js';
import { incidentRef } from '../primitives/ids.js';
import { readManifest } from '../slack/manifest.js';
import { AlertmanagerStandIn } from './alertmanagerStandIn.js';
import { DEMO_USERS, seedDemoWorkspace } from './demoWorkspace.js';
import { SampleAlerts } from './sampleAlerts.js';
import { SandboxClient } from './sandboxClient.js';
import { sandboxRoutes } from './sandboxRoutes.js';
import { startSlackEmulator } from './slackEmulator.js';
import { workspaceState } from './workspaceState.js';

/**
 * Sandbox mode, for trying the bot without a Slack workspace: the emulated Slack the tests use, served
 * in this process, seeded with demo channels, people and an on-call group, and a page at /sandbox to use
 * it as those people would use Slack.
 */

const PACKAGE_ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BOT_USER_ID = 'U0INCIDENTBOT';

export interface RunningSandbox {
  /** The emulated Web API: the bot's SLACK_API_URL in sandbox mode. */
  apiUrl: string;
  /** /sandbox and /sandbox/api/*, for the bot's HTTP server. */
  routes: Record<string, Handler>;
  /** Tells the sandbox the port the bot listens on, and logs where the page is. */
  connect(port: number): void;
  close(): Promise<void>;
}

/** How long a sample alert's answer waits for the bot to ingest it, to tell what it did. */
const INGEST_WAIT_MS = 5000;

export async function startSandbox(config: Config, pool: pg.Pool, logger: Logger): Promise<RunningSandbox> {
  const { env } = config;
  // The sandbox always runs the demo config (see isSandbox), whose checks name these variables: they
  // look at what the bot itself uses, defaults included.
  process.env.DATABASE_URL = env.DATABASE_URL;
  process.env.REDIS_URL = env.REDIS_URL;

  // parseEnv makes one up in sandbox mode; only Socket Mode (never the sandbox) goes without.
  const signingSecret = env.SLACK_SIGNING_SECRET;
  if (signingSecret === undefined) throw new Error('the sandbox needs a signing secret');
  // Read before the emulator listens, so a missing file leaves nothing open.
  const manifest = await readManifest();
  const samples = await SampleAlerts.load();
  const slack = await startSlackEmulator({
    token: env.SLACK_BOT_TOKEN,
    botUserId: BOT_USER_ID,
    scopes: manifest.botScopes,
  });
  const { emulator } = slack;
  seedDemoWorkspace(emulator);
  const client = new SandboxClient(
    emulator,
    { teamId: 'T0SANDBOX', domain: 'sandbox', appId: emulator.socketMode.appId },
    signingSecret,
    manifest.commands,
  );
  let port: number | undefined;
  const routes = await sandboxRoutes({
    client,
    samples,
    state: (user) => workspaceState(emulator, client, BOT_USER_ID, user),
    deliverAlert: async (payload) => {
      const res = await fetch(`http://127.0.0.1:${port}/alertmanager`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: `Bearer ${env.ALERTMANAGER_TOKEN}` },
        body: JSON.stringify(payload),
      });
      const body = (await res.json()) as { outcome?: string; delivery?: number };
      // What the bot made of it, once ingested (a moment), so that the page can say so.
      const ingested =
        body.outcome === 'accepted' ? await ingestedOutcome(pool, body.delivery!, INGEST_WAIT_MS) : undefined;
      return {
        status: res.status,
        body: ingested
          ? {
              outcome: ingested.outcome,
              ...(ingested.incidentId ? { incident: incidentRef(ingested.incidentId) } : {}),
            }
          : body,
        // Where the incident is, so the page can say so and take the person there.
        channel: groupChannel(config.file, payload),
      };
    },
    port: () => port,
    alertmanager: new AlertmanagerStandIn(),
  });

  return {
    apiUrl: slack.apiUrl,
    routes,
    connect: (listening) => {
      port = listening;
      fitDemoConfig(config.file, listening);
      client.connect(`http://127.0.0.1:${listening}`);
      logger.warn(
        {
          sandbox: `http://localhost:${listening}/sandbox`,
          users: DEMO_USERS.map((u) => u.name),
          config: SANDBOX_CONFIG_PATH,
          database: redactUrlPasswords(env.DATABASE_URL),
          redis: redactUrlPasswords(env.REDIS_URL),
          queuePrefix: env.QUEUE_PREFIX,
        },
        `SANDBOX MODE: no SLACK_BOT_TOKEN and no config file of your own, so incident-bot talks to a built-in emulated Slack, not a real workspace, with the demo config. Open http://localhost:${listening}/sandbox to try it. To connect a real workspace, create config/incident-bot.yml and set SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET, ALERTMANAGER_TOKEN and DATABASE_URL (README, "Connect a real workspace").`,
      );
    },
    close: () => slack.close(),
  };
}

/**
 * Fits the demo config to this run: its checks of the bot's own /healthz and its Alertmanager (the
 * stand-in the bot serves) name the default port and follow the one it got; its actions name their
 * script from the package root, wherever it was started.
 */
export function fitDemoConfig(file: FileConfig, port: number): void {
  const atPort = (url: string) => url.replace(/^http:\/\/127\.0\.0\.1:3000\//, `http://127.0.0.1:${port}/`);
  // In place: the Alertmanager client, made before the port was known, holds this very list.
  const urls = file.alertmanager?.urls ?? [];
  urls.forEach((url, i) => {
    urls[i] = atPort(url);
  });
  for (const service of Object.values(file.services)) {
    for (const check of service.checks) {
      if (check.kind === 'http') check.url = atPort(check.url);
    }
    for (const action of service.actions)
      if (action.driver.type === 'command') action.driver.cwd ??= PACKAGE_ROOT;
  }
}
