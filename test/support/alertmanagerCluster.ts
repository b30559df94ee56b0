import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe } from 'vitest';
import { parse, stringify } from 'yaml';
import { stopChild } from './childWorker.js';
import { unusedPort, waitFor } from './services.js';

/** Debian's prometheus-alertmanager (README, "Tests"; .ci/run installs it). */
export const ALERTMANAGER_BINARY = '/usr/bin/prometheus-alertmanager';
/** Why real peers cannot run here: tests that need them are skipped, unless CI requires them. */
export const alertmanagerMissing = existsSync(ALERTMANAGER_BINARY)
  ? undefined
  : `${ALERTMANAGER_BINARY} is not installed (apt-get install prometheus-alertmanager)`;
export const alertmanagerRequired = process.env.INCIDENT_BOT_REQUIRE_ALERTMANAGER === '1';

/**
 * A describe block that needs real Alertmanager peers: skipped (saying why) where the binary is missing,
 * unless CI requires it, where it then fails instead.
 */
export function describeWithAlertmanager(title: string, body: () => void): void {
  describe.skipIf(alertmanagerMissing !== undefined && !alertmanagerRequired)(
    `${title}${alertmanagerMissing ? ` (skipped: ${alertmanagerMissing})` : ''}`,
    () => {
      beforeAll(() => {
        if (alertmanagerMissing)
          throw new Error(`${alertmanagerMissing}, and INCIDENT_BOT_REQUIRE_ALERTMANAGER=1 requires it`);
      });
      body();
    },
  );
}

const EXAMPLE_CONFIG = new URL('../../config/alertmanager.example.yml', import.meta.url);

/** An alert as Prometheus posts it to Alertmanager's /api/v2/alerts. */
export interface PostableAlert {
  labels: Record<string, string>;
  annotations?: Record<string, string>;
  /**
   * When the alert became active. Prometheus sends the same to every peer, and again with its resolution;
   * a peer left to stamp its own would make each peer's copy look like the alert firing anew.
   */
  startsAt: string;
  endsAt?: string;
  generatorURL?: string;
}

export interface AlertmanagerPeer {
  /** Its API and UI, e.g. http://127.0.0.1:40123. */
  url: string;
  /** Where it gossips with the other peers (TCP and UDP). */
  clusterAddress: string;
  process: ChildProcess;
  output(): string;
}

export interface AlertmanagerCluster {
  peers: AlertmanagerPeer[];
  /** Posts the alerts to every peer, as Prometheus does with an HA pair; throws unless each takes them. */
  fire(alerts: PostableAlert[]): Promise<void>;
  /** The same alerts ended now: the peers send the resolved notification at their next group_interval. */
  resolve(alerts: PostableAlert[]): Promise<void>;
  stop(): Promise<void>;
}

export interface AlertmanagerClusterOptions {
  /** Each peer's webhook URL (the bot's /alertmanager), one peer per URL. */
  webhookUrls: string[];
  /** The bot's ALERTMANAGER_TOKEN, given to the peers as the example's credentials_file. */
  token: string;
  groupWait?: string;
  groupInterval?: string;
  repeatInterval?: string;
  /**
   * How long the n-th peer waits (n × this) for the ones before it to notify before notifying itself.
   * Alertmanager's default is 15s; 0s makes every peer deliver every notification, so each bot replica
   * is fed, and the bot sees the twice-delivered notifications HA pairs send.
   */
  peerTimeout?: string;
  /** The receiver's max_alerts: how many alerts a notification lists (every one when unset, as the example). */
  maxAlerts?: number;
}

/**
 * A cluster of real Alertmanager peers, child processes on free ports, each with its own storage under a
 * temp dir and the route and receiver of config/alertmanager.example.yml, pointed at one bot URL and with
 * test-sized intervals. Resolves once every peer is ready and the cluster has settled.
 */
export async function startAlertmanagerCluster(
  options: AlertmanagerClusterOptions,
): Promise<AlertmanagerCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'alertmanager-'));
  const tokenFile = join(dir, 'incident-bot-token');
  await writeFile(tokenFile, options.token, { mode: 0o600 });
  const example = parse(await readFile(EXAMPLE_CONFIG, 'utf8'));
  const clusterPorts = await Promise.all(options.webhookUrls.map(() => unusedPort()));
  const clusterAddresses = clusterPorts.map((port) => `127.0.0.1:${port}`);
  const peers: AlertmanagerPeer[] = [];
  const stop = async () => {
    // One at a time: a peer leaving waits for the others to hear it, up to 10 s if they are gone too.
    for (const peer of peers) await stopChild(peer.process);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    for (const [i, webhookUrl] of options.webhookUrls.entries()) {
      const configFile = join(dir, `peer-${i}.yml`);
      await writeFile(configFile, stringify(peerConfig(example, webhookUrl, tokenFile, options)));
      const webPort = await unusedPort();
      const child = spawn(
        ALERTMANAGER_BINARY,
        [
          `--config.file=${configFile}`,
          `--storage.path=${join(dir, `peer-${i}`)}`,
          `--web.listen-address=127.0.0.1:${webPort}`,
          `--cluster.listen-address=${clusterAddresses[i]}`,
          ...clusterAddresses.filter((_, j) => j !== i).map((address) => `--cluster.peer=${address}`),
          `--cluster.peer-timeout=${options.peerTimeout ?? '0s'}`,
          // Settling waits for the peer count to hold still for three polls of 10 gossip intervals:
          // quicker gossip settles in about 2 s instead of 8 s.
          '--cluster.gossip-interval=50ms',
          '--cluster.settle-timeout=10s',
          '--log.level=info',
        ],
        // A process group of its own, which stopChild signals.
        { stdio: ['ignore', 'pipe', 'pipe'], detached: true },
      );
      let output = '';
      child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
      peers.push({
        url: `http://127.0.0.1:${webPort}`,
        clusterAddress: clusterAddresses[i]!,
        process: child,
        output: () => output,
      });
    }
    for (const peer of peers) {
      await waitFor(
        async () => {
          if (peer.process.exitCode !== null) throw new Error(`exited: ${peer.output().slice(-2000)}`);
          const status = (await (await fetch(`${peer.url}/api/v2/status`)).json()) as {
            cluster?: { status?: string; peers?: unknown[] };
          };
          // Settled and seeing every peer: the peers share their notification log, as in production.
          return status.cluster?.status === 'ready' && status.cluster.peers?.length === peers.length;
        },
        30_000,
        `Alertmanager at ${peer.url} to join its cluster`,
      );
    }
  } catch (err) {
    await stop();
    throw err;
  }
  const postToEach = async (alerts: PostableAlert[]) => {
    await Promise.all(
      peers.map(async (peer) => {
        const res = await fetch(`${peer.url}/api/v2/alerts`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify(alerts),
        });
        if (!res.ok) throw new Error(`${peer.url} answered ${res.status}: ${await res.text()}`);
      }),
    );
  };
  return {
    peers,
    fire: postToEach,
    resolve: (alerts) => {
      const now = new Date().toISOString();
      return postToEach(alerts.map((alert) => ({ ...alert, endsAt: now })));
    },
    stop,
  };
}

function peerConfig(
  example: { route: Record<string, unknown>; receivers: Array<{ webhook_configs: object[] }> },
  webhookUrl: string,
  tokenFile: string,
  options: AlertmanagerClusterOptions,
) {
  const [receiver] = example.receivers;
  const [webhook] = receiver!.webhook_configs as Array<{ http_config: { authorization: object } }>;
  return {
    route: {
      ...example.route,
      group_wait: options.groupWait ?? '1s',
      group_interval: options.groupInterval ?? '2s',
      repeat_interval: options.repeatInterval ?? '1h',
    },
    receivers: [
      {
        ...receiver,
        webhook_configs: [
          {
            ...webhook,
            url: webhookUrl,
            ...(options.maxAlerts === undefined ? {} : { max_alerts: options.maxAlerts }),
            http_config: {
              ...webhook!.http_config,
              authorization: { ...webhook!.http_config.authorization, credentials_file: tokenFile },
            },
          },
        ],
      },
    ],
  };
}
