import type pg from 'pg';
import type { SlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { payload } from '../support/alertmanager.js';
import { waitFor } from '../support/services.js';

/**
 * Slack fault scenarios of issue 13, sized by their caller: the suite runs them small, a bench can run
 * them large (a 5-minute outage, say) and print the figures they return.
 */

/** What a scenario drives: a running bot's webhook, its emulated Slack and its database. */
export interface ScenarioBot {
  deliver(body: object): Promise<Response>;
  slack: SlackEmulator;
  pool: pg.Pool;
  /** Where the groups are routed. */
  channel: string;
}

export interface ScenarioFigures {
  deliveries: number;
  accepted: number;
  /** Root messages in the channel, and groups with more than one. */
  roots: number;
  duplicates: number;
  /** From the end of the fault until Postgres and Slack agree. */
  catchUpMs: number;
}

/** The group name's root messages, by the title the root message shows. */
function rootsOf(bot: ScenarioBot, group: string) {
  return bot.slack.channelMessages(bot.channel).filter((m) => m.text.includes(`${group}:`));
}

/** Nothing left for Slack to show: every incident's root is posted and current, every entry told. */
async function consistent(bot: ScenarioBot, groups: number): Promise<boolean> {
  const { rows } = await bot.pool.query<{ incidents: number; behind: number }>(
    `SELECT (SELECT count(*)::int FROM incidents) AS incidents,
            (SELECT count(*)::int FROM incidents i
              WHERE i.root_ts IS NULL OR i.root_version < i.version
                 OR EXISTS (SELECT 1 FROM timeline_entries t WHERE t.incident_id = i.id AND t.slack_ts IS NULL))
              AS behind`,
  );
  return rows[0]!.incidents === groups && rows[0]!.behind === 0;
}

async function figures(
  bot: ScenarioBot,
  names: string[],
  deliveries: number,
  accepted: number,
  faultEnded: number,
  deadlineMs: number,
): Promise<ScenarioFigures> {
  await waitFor(() => consistent(bot, names.length), deadlineMs, 'Postgres and Slack to agree');
  const catchUpMs = Date.now() - faultEnded;
  const counts = names.map((name) => rootsOf(bot, name).length);
  return {
    deliveries,
    accepted,
    roots: counts.reduce((a, b) => a + b, 0),
    duplicates: counts.filter((n) => n > 1).length,
    catchUpMs,
  };
}

/**
 * Scenario 1: Slack answers 5xx to everything for `outageMs` while `groups` new groups fire, each
 * delivered twice (as by two HA Alertmanager peers); then Slack returns.
 */
export async function slackOutage(
  bot: ScenarioBot,
  options: { groups: number; outageMs: number; deadlineMs: number },
): Promise<ScenarioFigures> {
  const names = Array.from({ length: options.groups }, (_, i) => `Outage${i + 1}`);
  bot.slack.outage();
  const started = Date.now();
  let accepted = 0;
  for (const name of names) {
    const body = payload({ group: name, alerts: [{ instance: 'a' }, { instance: 'b' }] });
    const answers = await Promise.all([bot.deliver(body), bot.deliver(body)]);
    accepted += answers.filter((res) => res.ok).length;
  }
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, started + options.outageMs - Date.now())));
  bot.slack.endOutage();
  return figures(bot, names, names.length * 2, accepted, Date.now(), options.deadlineMs);
}

/**
 * Scenario 2: the next `answers` chat.postMessage calls get 429 with Retry-After `retryAfterSeconds`
 * while `groups` groups fire and then grow to `finalAlerts` alerts each.
 */
export async function slackRateLimited(
  bot: ScenarioBot,
  options: {
    groups: number;
    answers: number;
    retryAfterSeconds: number;
    finalAlerts: number;
    deadlineMs: number;
  },
): Promise<ScenarioFigures & { finalCountShown: number }> {
  const names = Array.from({ length: options.groups }, (_, i) => `Limited${i + 1}`);
  bot.slack.failNext(
    'chat.postMessage',
    { status: 429, retryAfterSeconds: options.retryAfterSeconds },
    options.answers,
  );
  const alerts = (n: number) => Array.from({ length: n }, (_, i) => ({ instance: `i${i + 1}` }));
  let deliveries = 0;
  let accepted = 0;
  for (let size = 1; size <= options.finalAlerts; size++) {
    for (const name of names) {
      const res = await bot.deliver(payload({ group: name, alerts: alerts(size) }));
      deliveries++;
      if (res.ok) accepted++;
    }
  }
  // The fault ends with the last 429 answered.
  await waitFor(
    () => bot.slack.callsOf('chat.postMessage').filter((c) => c.status === 429).length === options.answers,
    options.deadlineMs,
    'every 429 to be answered',
  );
  const last429 = bot.slack
    .callsOf('chat.postMessage')
    .filter((c) => c.status === 429)
    .at(-1)!.at;
  const result = await figures(bot, names, deliveries, accepted, last429, options.deadlineMs);
  const shown = `${options.finalAlerts} firing, 0 resolved`;
  const finalCountShown = names.filter((name) =>
    rootsOf(bot, name).some((m) => JSON.stringify(m.blocks).includes(shown)),
  ).length;
  return { ...result, finalCountShown };
}
