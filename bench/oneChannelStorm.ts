/**
 * The Slack side of a storm in one channel (issue 18): 20 groups fire at once into the same channel, under
 * Slack's published limits as the bot is configured by default, and keep growing as Alertmanager re-sends
 * them every group_interval (compressed here to 2 s), so that each incident's thread replies and root
 * updates compete for the channel's budget with the roots still waiting. For each group: the time from its
 * first notification to its root message in Slack, beside the floor Slack's limit sets for that many roots.
 */
import { randomBytes } from 'node:crypto';
import { Agent } from 'node:http';
import { startSlackEmulator } from '../src/sandbox/slackEmulator.js';
import { payload } from '../test/support/alertmanager.js';
import {
  BOT_TOKEN,
  fmt,
  percentile,
  post,
  startBot,
  stop,
  untilConsistent,
  withDatabase,
} from './deployment.js';

const GROUPS = 20;
const PEERS = 2;
const GROUP_INTERVAL_MS = 2000;
const GROWTH_ROUNDS = 15;
const ALERTS_FIRST = 10;
const ALERTS_PER_ROUND = 5;
// The bot's default chat.postMessage budget per channel (src/slack/configSchema.ts): Slack's 1 a second.
const PER_SECOND = 1;
const BURST = 3;

const groupName = (g: number) => `OneChannel${String(g).padStart(2, '0')}`;

/** Every group routes to team-0's channel. */
function notification(g: number, alerts: number): string {
  return JSON.stringify(
    payload({
      group: groupName(g),
      commonLabels: { team: 'team-0' },
      alerts: Array.from({ length: alerts }, (_, i) => ({
        instance: `host-${i}`,
        labels: { team: 'team-0' },
        annotations: { description: `Error budget burning on host-${i}` },
      })),
    }),
  );
}

// A connection each: between rounds a kept-alive one can sit idle past the bot's keep-alive timeout, and
// be reset as it is reused.
const fresh = new Agent({ keepAlive: false, maxSockets: 64 });

/** Both HA peers send it. */
async function deliver(port: number, body: string): Promise<void> {
  await Promise.all(Array.from({ length: PEERS }, () => post(port, body, fresh)));
}

export async function oneChannelStormBench(): Promise<void> {
  const slack = await startSlackEmulator({ token: BOT_TOKEN });
  await withDatabase(async (url, pool) => {
    const { port, child } = await startBot(slack, url, `bench-${randomBytes(4).toString('hex')}`, 1000);
    try {
      const firstSent = new Map<number, number>();
      const started = Date.now();
      await Promise.all(
        Array.from({ length: GROUPS }, (_, g) => {
          firstSent.set(g, Date.now());
          return deliver(port, notification(g, ALERTS_FIRST));
        }),
      );
      for (let round = 1; round <= GROWTH_ROUNDS; round++) {
        await new Promise((r) => setTimeout(r, started + round * GROUP_INTERVAL_MS - Date.now()));
        await Promise.all(
          Array.from({ length: GROUPS }, (_, g) =>
            deliver(port, notification(g, ALERTS_FIRST + round * ALERTS_PER_ROUND)),
          ),
        );
      }
      const consistentAfter = await untilConsistent(pool, performance.now());

      const posts = slack.emulator.callsOf('chat.postMessage').filter((c) => c.ok);
      const rootAt = (g: number) =>
        posts.find((c) => !c.params.thread_ts && String(c.params.text).includes(groupName(g)))?.at;
      const delays = Array.from(
        { length: GROUPS },
        (_, g) => ((rootAt(g) ?? Number.NaN) - firstSent.get(g)!) / 1000,
      );
      const lastRoot = Math.max(...Array.from({ length: GROUPS }, (_, g) => rootAt(g) ?? 0));
      const repliesBeforeLastRoot = posts.filter((c) => c.params.thread_ts && c.at <= lastRoot).length;
      // The earliest each root can go: the burst at once, then one a second.
      const floor = Array.from({ length: GROUPS }, (_, k) => Math.max(0, k - BURST + 1) / PER_SECOND);
      const calls = slack.emulator.calls;
      const count = (method: string, thread?: boolean) =>
        calls.filter(
          (c) =>
            c.method === method && c.ok && (thread === undefined || Boolean(c.params.thread_ts) === thread),
        ).length;

      console.log(
        `\n## Storm in one channel: ${GROUPS} groups fire at once, ${PEERS} peers, each grown every ${GROUP_INTERVAL_MS / 1000} s for ${GROWTH_ROUNDS} rounds`,
      );
      console.log(
        `Slack limits as configured by default: chat.postMessage ${PER_SECOND * 60}/min per channel (burst ${BURST}), chat.update 50/min (burst 10).`,
      );
      console.log('| first notification → root message | min s | p50 s | p99 s | max s |');
      console.log('| --- | ---: | ---: | ---: | ---: |');
      console.log(
        `| the bot | ${fmt(Math.min(...delays))} | ${fmt(percentile(delays, 0.5))} | ${fmt(percentile(delays, 0.99))} | ${fmt(Math.max(...delays))} |`,
      );
      console.log(
        `| Slack's floor for ${GROUPS} roots in one channel | ${fmt(Math.min(...floor))} | ${fmt(percentile(floor, 0.5))} | ${fmt(percentile(floor, 0.99))} | ${fmt(Math.max(...floor))} |`,
      );
      console.log(
        `Roots posted at (s after the first notifications): ${[...delays]
          .sort((a, b) => a - b)
          .map((d) => fmt(d))
          .join(', ')}.`,
      );
      console.log(
        `Thread replies posted before the last root: ${repliesBeforeLastRoot}. In all: ${count('chat.postMessage', false)} roots, ` +
          `${count('chat.postMessage', true)} replies, ${count('chat.update')} updates, ` +
          `${calls.filter((c) => c.status === 429).length} answered 429; Slack consistent ${fmt(consistentAfter)} s after the last delivery.`,
      );
    } finally {
      await stop(child);
    }
  });
  await slack.close();
}
