import type pg from 'pg';
import { AlertmanagerApi } from '../src/alertmanager/alertmanagerApi.js';
import { settledWithin } from '../src/primitives/withTimeout.js';
import type { Block } from '../src/render/blockKit.js';
import { type EnteredValues, stateValues } from '../src/sandbox/sandboxClient.js';
import type { EmulatedView, RecordedCall, RunningEmulator } from '../src/sandbox/slackEmulator.js';
import { blockActionsPayload, newTriggerId, viewSubmissionPayload } from '../src/sandbox/slackPayloads.js';
import { payload } from '../test/support/alertmanager.js';
import { serveAlertmanagerStandIn } from '../test/support/alertmanagerServer.js';
import { CATALOG, percentile, runConcurrently, slackRequest, startBot, stop, TEAMS } from './deployment.js';
import type { Sent } from './floors.js';

const CONCURRENCY = 50;
const CLICKS = 200;
/** Approve and Reject update one message each through chat.update, Slack's Tier 3 (50 a minute): one wave. */
const VOTES = 50;
const CHANNELS = 50;
/** How long the bench waits for the call that shows a click's result before counting it as not shown. */
export const RESULT_WAIT_MS = 30_000;

const WORKSPACE = { teamId: 'T0SANDBOX', domain: 'sandbox', appId: 'A0INCIDENTBOT' };
/** Each click has a clicker of its own, so that what the bot tells them names the click. */
const sre = (i: number) => ({ id: `U0SRE${String(i).padStart(4, '0')}`, name: `sre${i}` });
/** The catalog's approver (CATALOG). */
const APPROVER = { id: 'U0APPROVER', name: 'approver' };
/** Declares the incidents and requests the actions the clicks act on. */
const REQUESTER = { id: 'U0REQUESTER', name: 'requester' };

const channelOf = (prefix: string, i: number) => `C0${prefix}${String(i % CHANNELS).padStart(4, '0')}`;

/**
 * What the Alertmanager holds besides the incidents' silences: other teams', half of them expired (it
 * keeps those for its retention period), as a shared one does.
 */
export const OTHER_SILENCES = 2_000;

async function otherTeamsSilences(alertmanagerUrl: string): Promise<void> {
  const alertmanager = new AlertmanagerApi([alertmanagerUrl], undefined, 10_000);
  for (let i = 0; i < OTHER_SILENCES; i++) {
    const id = await alertmanager.postSilence({
      matchers: [
        { name: 'team', value: `other-${i % 40}` },
        { name: 'alertname', value: `Other${i}` },
      ],
      startsAt: new Date(),
      endsAt: new Date(Date.now() + 24 * 3_600_000),
      createdBy: 'U0OTHER',
      comment: `Maintenance window ${i}`,
    });
    if (i % 2) await alertmanager.expireSilence(id);
  }
}

/** The catalog, an Alertmanager to silence in, and a playbook whose first moves are a check and an action. */
function config(alertmanagerUrl: string): string[] {
  return [
    ...CATALOG,
    'alertmanager:',
    `  urls: ['${alertmanagerUrl}']`,
    'playbooks:',
    '  - name: bench',
    "    matchers: ['team=~team-.*']",
    '    service: payments-api',
    '    checks: [up]',
    '    actions: [{ action: scale, params: { replicas: 3 } }]',
  ];
}

/**
 * One request into the bot, and the call that shows its result, when the listener acks before its work;
 * another ephemeral to the clicker in that channel is an answer too, but not the result (an error).
 */
interface Probe extends Sent {
  shows?: (call: RecordedCall) => boolean;
  clicker?: { user: string; channel: string };
}

/** An ack that says the work failed (replies.ts `explain`), or a form refused under one of its fields. */
export const FAILED_ACK =
  /"response_action":"errors"|is not answering right now|Something went wrong on our side/;

/** The ack floors' p99, measured beside a row with as many acks as the row's (see floors.ts). */
export interface FloorsBeside {
  /** The bare ack floor. */
  plain: number;
  /** The ack floor that commits one INSERT before it acks. */
  writing: number;
  /**
   * CPU per measured ack, in ms (see cpuDuring): the bare floor's process; the writing floor's process and
   * PostgreSQL (all of its processes, the server's share of the bot's pools included: they are idle).
   */
  cpu: { plain: number; writing: number; writingPostgres: number };
}

/** What the bench gives the matrix: a warm-up for its fresh bot, and floors to measure beside each row. */
export interface Floors {
  /**
   * Warms a process's Slack path (receiver, signature, Bolt) for slash commands, clicks and forms: with
   * `/incident help` (whose answer is fixed text), and a click and a form no listener answers.
   */
  warmUp(port: number): Promise<void>;
  /** Resolves once the bot (`bot`, its pid) and PostgreSQL are at rest, or after 20 s (see untilQuiet). */
  atRest(bot: number): Promise<void>;
  /** The floors' p99 over `acks` of `forms` (the row's own requests, by turns), once the bot is at rest. */
  beside(acks: number, bot: number, forms: Array<Record<string, string>>): Promise<FloorsBeside>;
}

export interface ListenerFigures {
  name: string;
  /** How many acks the figures are of. */
  acks: number;
  ackP50: number;
  ackP99: number;
  /** Acks that carry a failure: not 200, an error under a form field, or a store or bug apology. */
  failed: number;
  /** What the figures owe to something other than the bot, printed under the table. */
  note?: string;
  floor: FloorsBeside;
  /** Shown: the result arrived; otherwise: the clicker was told something else (`told`, most common first). */
  result?: { p50: number; p99: number; shown: number; otherwise: number; of: number; told: string[] };
}

/**
 * Sends `probes` from `CONCURRENCY` clients in two passes over halves of them (one pass, when they are no
 * more than the clients: one wave is both). The acks are the first pass's, each client sending its next
 * once acknowledged, as the ack floor's clients do. Click → result is the second pass's: each client is a
 * person who clicks again once their click's result is shown, they were told something else, or
 * `RESULT_WAIT_MS` passed (only once acknowledged, when the click shows nothing after its ack or the ack
 * failed). A pass begins once the results of the one before it are in, or waited for as long.
 */
async function measure(
  slack: RunningEmulator,
  port: number,
  name: string,
  probes: Array<() => Probe>,
): Promise<Omit<ListenerFigures, 'floor'> & { forms: Array<Record<string, string>> }> {
  const acks: number[] = [];
  /** The requests whose acks are timed: the floors are sent the same. */
  const forms: Array<Record<string, string>> = [];
  const results: number[] = [];
  const told = new Map<string, number>();
  interface Waiting {
    probe: Probe;
    since: number;
    /** In the click → result pass: its result is counted. */
    counted: boolean;
    done: () => void;
  }
  const waiting = new Set<Waiting>();
  const answered = (w: Waiting) => {
    waiting.delete(w);
    w.done();
  };
  const unwatch = slack.emulator.onCall((call) => {
    for (const w of waiting) {
      if (call.at < w.since) continue;
      if (w.probe.shows!(call)) {
        if (w.counted) results.push(call.at - w.since);
        answered(w);
      } else if (
        call.method === 'chat.postEphemeral' &&
        call.params.user === w.probe.clicker?.user &&
        call.params.channel === w.probe.clicker?.channel
      ) {
        // Numbers blanked: one line per kind of answer.
        const text = String(call.params.text).replace(/\d+/g, 'n').slice(0, 90);
        told.set(text, (told.get(text) ?? 0) + 1);
        answered(w);
      }
    }
  });
  let counted = 0;
  let failed = 0;
  const pass = async (from: number, to: number, kept: { acks: boolean; results: boolean }) => {
    const ofPass = new Set<Waiting>();
    const shown: Array<Promise<true>> = [];
    let next = from;
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (next < to) {
          const probe = probes[next++]!();
          let waiter: Waiting | undefined;
          let result: Promise<true> | undefined;
          if (probe.shows) {
            result = new Promise<true>((resolve) => {
              waiter = { probe, since: Date.now(), counted: kept.results, done: () => resolve(true) };
            });
            shown.push(result);
            waiting.add(waiter!);
            ofPass.add(waiter!);
            if (kept.results) counted++;
          }
          const { status, ms, body } = await slackRequest(port, probe.form);
          const ackFailed =
            status !== 200 ||
            FAILED_ACK.test(body) ||
            (probe.answers !== undefined && !probe.answers.test(body));
          if (ackFailed) failed++;
          if (kept.acks) {
            acks.push(ms);
            forms.push(probe.form);
          }
          if (kept.results && result && !ackFailed) {
            await settledWithin(result, RESULT_WAIT_MS);
            waiting.delete(waiter!);
          }
        }
      }),
    );
    await settledWithin(Promise.all(shown), RESULT_WAIT_MS);
    // Not shown within the wait: not counted should it come later.
    for (const w of ofPass) waiting.delete(w);
  };
  try {
    if (probes.length <= CONCURRENCY) await pass(0, probes.length, { acks: true, results: true });
    else {
      const half = Math.ceil(probes.length / 2);
      await pass(0, half, { acks: true, results: false });
      await pass(half, probes.length, { acks: false, results: true });
    }
  } finally {
    unwatch();
    waiting.clear();
  }
  const otherwise = [...told.values()].reduce((a, b) => a + b, 0);
  // Not shown within the wait, or answered otherwise: counted at the wait, so p99 reads "at least".
  const padded = [...results, ...Array.from({ length: counted - results.length }, () => RESULT_WAIT_MS)];
  return {
    name,
    forms,
    acks: acks.length,
    ackP50: percentile(acks, 0.5),
    ackP99: percentile(acks, 0.99),
    failed,
    ...(counted > 0
      ? {
          result: {
            p50: percentile(padded, 0.5),
            p99: percentile(padded, 0.99),
            shown: results.length,
            otherwise,
            of: counted,
            told: [...told].sort((a, b) => b[1] - a[1]).map(([text, n]) => `${n}× ${text}`),
          },
        }
      : {}),
  };
}

/**
 * A click and a form submission no listener answers (the bot acks them once Bolt is done): they warm a
 * process's path for Slack's payloads (the body's JSON, Bolt's routing) without any listener's own code.
 */
export function unansweredPayloads(): Array<Record<string, string>> {
  const user = { id: 'U0BENCH', name: 'bench' };
  const message = {
    channel: 'C0BENCH01',
    ts: '1700000000.000100',
    text: 'warm-up',
    blocks: [],
    user: 'U0BOT',
  };
  const clicked = blockActionsPayload(WORKSPACE, {
    user,
    channel: { id: message.channel, name: 'bench' },
    message,
    blockId: 'bench_warm_up',
    button: { type: 'button', action_id: 'bench_warm_up', text: { type: 'plain_text', text: 'Warm up' } },
    triggerId: newTriggerId(),
    responseUrl: 'https://hooks.slack.invalid/actions/1',
  });
  const submitted = viewSubmissionPayload(WORKSPACE, {
    user,
    view: {
      id: 'V0WARMUP',
      hash: 'warm-up',
      triggerId: newTriggerId(),
      callbackId: 'bench_warm_up',
      privateMetadata: '',
      title: { type: 'plain_text', text: 'Warm up' },
      blocks: [],
    },
    values: {},
    triggerId: newTriggerId(),
  });
  return [{ payload: JSON.stringify(clicked) }, { payload: JSON.stringify(submitted) }];
}

/** A click on `actionId` of the message at channel/ts, as it is now; a button it does not show yet is made up. */
function click(
  slack: RunningEmulator,
  where: { channel: string; ts: string },
  actionId: string,
  value: string,
  user: { id: string; name: string },
): { form: Record<string, string>; triggerId: string } {
  const message = slack.emulator.message(where.channel, where.ts);
  if (!message) throw new Error(`no message ${where.channel} ${where.ts}`);
  let blockId = 'incident_actions';
  let button: Block | undefined;
  for (const block of message.blocks) {
    const found = (block.elements as Block[] | undefined)?.find((b) => b.action_id === actionId);
    if (found) {
      blockId = String(block.block_id);
      button = found;
    }
  }
  // A root updated under Tier 3 may not show the button yet; a click then carries what it will show.
  button ??= { type: 'button', action_id: actionId, text: { type: 'plain_text', text: actionId }, value };
  const triggerId = newTriggerId();
  const payload = blockActionsPayload(WORKSPACE, {
    user,
    channel: { id: where.channel, name: where.channel.toLowerCase() },
    message,
    blockId,
    button,
    triggerId,
    responseUrl: 'https://hooks.slack.invalid/actions/1',
  });
  return { form: { payload: JSON.stringify(payload) }, triggerId };
}

/** What the form shows already (initial values and options), with `entered` typed over it. */
function submit(
  view: EmulatedView,
  entered: EnteredValues,
  user: { id: string; name: string },
): Record<string, string> {
  const initial: EnteredValues = {};
  for (const block of view.blocks) {
    const element = block.element as
      | {
          initial_value?: string;
          initial_option?: { value: string };
          initial_options?: Array<{ value: string }>;
        }
      | undefined;
    if (block.type !== 'input' || !element) continue;
    const value =
      element.initial_value ??
      element.initial_option?.value ??
      element.initial_options?.map((o) => o.value).join('\n');
    if (value !== undefined) initial[String(block.block_id)] = value;
  }
  const payload = viewSubmissionPayload(WORKSPACE, {
    user,
    view,
    values: stateValues(view, { ...initial, ...entered }),
    triggerId: newTriggerId(),
  });
  return { payload: JSON.stringify(payload) };
}

const ephemeralTo = (user: string, channel: string, ref: string) => {
  const named = new RegExp(`\\b${ref}\\b`);
  return (c: RecordedCall) =>
    c.method === 'chat.postEphemeral' &&
    c.params.user === user &&
    c.params.channel === channel &&
    named.test(String(c.params.text));
};
const viewOpened = (triggerId: string) => (c: RecordedCall) =>
  c.method === 'views.open' && c.params.trigger_id === triggerId;

interface Root {
  id: number;
  channel: string;
  ts: string;
}

async function waitFor<T>(what: string, read: () => Promise<T | undefined>, ms = 180_000): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await read();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`bench: ${what} not within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/**
 * Every listener of the matrix, on a fresh bot over `databaseUrl`, warmed before its first row; rows in the
 * order they ran, each with the floors measured right after it.
 */
export async function clickMatrix(
  slack: RunningEmulator,
  databaseUrl: string,
  pool: pg.Pool,
  prefix: string,
  floors: Floors,
): Promise<ListenerFigures[]> {
  const alertmanager = await serveAlertmanagerStandIn();
  await otherTeamsSilences(alertmanager.url);
  const bot = await startBot(slack, databaseUrl, prefix, 1000, { yaml: config(alertmanager.url) });
  const { port } = bot;
  const command = (command: string, text: string, channel: string, user = REQUESTER) => ({
    form: {
      command,
      text,
      user_id: user.id,
      user_name: user.name,
      channel_id: channel,
      team_id: WORKSPACE.teamId,
      trigger_id: newTriggerId(),
      response_url: 'https://hooks.slack.invalid/commands/1',
    },
  });
  const rows: ListenerFigures[] = [];
  const run = async (name: string, probes: Array<() => Probe>, note?: string) => {
    await floors.atRest(bot.child.pid!);
    const { forms, ...figures } = await measure(slack, port, name, probes);
    rows.push({
      ...figures,
      floor: await floors.beside(figures.acks, bot.child.pid!, forms),
      ...(note ? { note } : {}),
    });
  };
  try {
    /**
     * `CLICKS` alert-born incidents (with a playbook and silences) in the teams' channels and as many declared
     * ones spread over channels of their own, once Slack shows their roots: what the rows after act on.
     */
    const incidents = async (tag: string) => {
      const { rows: before } = await pool.query<{ last: number }>(
        'SELECT COALESCE(max(id), 0)::int AS last FROM incidents',
      );
      const alerts = Array.from({ length: CLICKS }, (_, g) => {
        const labels = { team: `team-${g % TEAMS}`, service: 'payments-api' };
        return JSON.stringify(
          payload({
            group: `Acks${prefix}${tag}${g}`,
            commonLabels: labels,
            alerts: [{ instance: 'h', labels }],
          }),
        );
      });
      await runConcurrently(port, alerts, 16);
      for (let i = 0; i < CLICKS; i++) {
        await slackRequest(
          port,
          command('/incident', `declare P3 Acks ${tag}${i}`, channelOf('ACK', i)).form,
        );
      }
      // The webhook answers before it ingests: every incident made, and Slack showing each.
      await waitFor("the incidents' roots", async () => {
        const { rows } = await pool.query<{ shown: number; made: number }>(
          'SELECT count(root_ts)::int AS shown, count(*)::int AS made FROM incidents WHERE id > $1',
          [before[0]!.last],
        );
        const { shown, made } = rows[0]!;
        return made === 2 * CLICKS && shown === made ? true : undefined;
      });
      const roots = async (declared: boolean) =>
        (
          await pool.query<Root>(
            `SELECT id, channel_id AS channel, root_ts AS ts FROM incidents
              WHERE id > $2 AND (declared_by IS NOT NULL) = $1 ORDER BY id`,
            [declared, before[0]!.last],
          )
        ).rows;
      return { alert: await roots(false), declared: await roots(true) };
    };
    // The state the clicks act on: those incidents, and action requests in channels of their own.
    const { alert: alertRoots, declared: declaredRoots } = await incidents('x');
    for (let i = 0; i < CLICKS; i++) {
      await slackRequest(
        port,
        command('/action', `scale payments-api replicas=${(i % 20) + 1}`, channelOf('REQ', i)).form,
      );
    }
    const requests = await waitFor('the approval messages', async () => {
      const { rows: all } = await pool.query<{ id: number; channel: string; ts: string | null }>(
        'SELECT id, channel_id AS channel, message_ts AS ts FROM action_requests ORDER BY id',
      );
      return all.length >= CLICKS && all.every((r) => r.ts !== null) ? (all as Root[]) : undefined;
    });
    // Let the roots' first updates (the buttons) go out before the clicks.
    await new Promise((r) => setTimeout(r, 5000));
    await floors.warmUp(port);

    // The approval message's update, or the ephemeral that tells the voter what their vote decided.
    const vote = (actionId: string, request: Root) => () => ({
      form: click(slack, request, actionId, String(request.id), APPROVER).form,
      shows: (c: RecordedCall) =>
        (c.method === 'chat.update' && c.params.channel === request.channel && c.params.ts === request.ts) ||
        (c.method === 'chat.postEphemeral' &&
          c.params.channel === request.channel &&
          c.params.user === APPROVER.id &&
          String(c.params.text).startsWith(
            `You ${actionId === 'action_approve' ? 'approved' : 'rejected'} ACT-${request.id}:`,
          )),
      // One vote per channel: what the approver is told there is about this request.
      clicker: { user: APPROVER.id, channel: request.channel },
    });
    await run(
      'Approve',
      requests.slice(0, VOTES).map((r) => vote('action_approve', r)),
    );
    await run(
      'Reject',
      requests.slice(VOTES, 2 * VOTES).map((r) => vote('action_reject', r)),
    );
    await run(
      '`/action cancel`',
      requests.slice(2 * VOTES).map((r) => () => ({
        ...command('/action', `cancel ACT-${r.id}`, r.channel),
        answers: new RegExp(`Cancelled ACT-${r.id}\\.`),
      })),
    );

    const openers = new Map<string, { id: string; name: string }>();
    type Shows = (root: Root, user: string, triggerId: string) => (c: RecordedCall) => boolean;
    /** `CLICKS` clicks on `actionId` of incidents' roots, round robin, each by a clicker of its own. */
    const onRoots = (
      on: Root[],
      actionId: string,
      shows: Shows,
      value: (root: Root) => string = (root) => String(root.id),
    ) =>
      Array.from({ length: CLICKS }, (_, i) => () => {
        const root = on[i % on.length]!;
        const user = sre(i);
        const { form, triggerId } = click(slack, root, actionId, value(root), user);
        openers.set(triggerId, user);
        return {
          form,
          shows: shows(root, user.id, triggerId),
          clicker: { user: user.id, channel: root.channel },
        };
      });
    const told: Shows = (root, user) => ephemeralTo(user, root.channel, `INC-${root.id}`);
    const opened: Shows = (_root, _user, triggerId) => viewOpened(triggerId);
    // A result in the incident's thread, or shown to the clicker alone while the thread waits its turn.
    const healthShown: Shows = (root, user) => (c) =>
      (c.method === 'chat.postMessage' &&
        c.params.channel === root.channel &&
        c.params.thread_ts === root.ts) ||
      (c.method === 'chat.postEphemeral' &&
        c.params.user === user &&
        c.params.channel === root.channel &&
        String(c.params.text).startsWith('Health checks'));

    await run(
      'Run health check',
      onRoots(alertRoots, 'incident_health_check', healthShown, () => 'payments-api'),
      // Little's law, for a queue served at Slack's rate: the thread's floor, whatever the bot does.
      `its result goes in the incident's thread, where Slack takes about one message a second per channel, which the bot keeps to: its ${CONCURRENCY} people click on alert incidents in ${TEAMS} channels, about ${CONCURRENCY / TEAMS} at a time in each, so a result waits up to about ${CONCURRENCY / TEAMS} s for its channel; one that waits is shown at once to the clicker alone, and its click → result counts from whichever comes first`,
    );
    await run(
      'playbook check',
      onRoots(alertRoots, 'playbook_move_0', told, (root) => `${root.id}|check|up`),
    );
    await run(
      'playbook action',
      onRoots(alertRoots, 'playbook_move_1', told, (root) => `${root.id}|action|scale`),
    );

    /** Clicks that open a form; then the forms they opened, each submitted by the one who opened it. */
    const opening = async (name: string, on: Root[], actionId: string) => {
      const before = new Set(slack.emulator.openedViews().map((v) => v.id));
      await run(name, onRoots(on, actionId, opened));
      return slack.emulator.openedViews().filter((v) => !before.has(v.id));
    };
    const rootOf = new Map([...alertRoots, ...declaredRoots].map((r) => [String(r.id), r]));
    // Slack shows a form to the one who opened it only: they submit it.
    const submissions = (forms: EmulatedView[], entered: EnteredValues, result?: Shows) =>
      forms.map((view) => () => {
        const user = openers.get(view.triggerId)!;
        const root = rootOf.get(view.privateMetadata)!;
        return {
          form: submit(view, entered, user),
          ...(result
            ? { shows: result(root, user.id, ''), clicker: { user: user.id, channel: root.channel } }
            : {}),
        };
      });

    const updateForms = await opening('Post update (opens the form)', declaredRoots, 'incident_post_update');
    await run(
      'update form',
      submissions(updateForms, { status: 'monitoring', text: 'Rolled back; watching' }),
    );
    const resolveForms = await opening('Resolve (opens the form)', declaredRoots, 'incident_resolve');
    await run('Acknowledge', onRoots(alertRoots, 'incident_acknowledge', told));
    await run('Post-mortem', onRoots(declaredRoots, 'incident_postmortem', told));
    const silenceForms = await opening('Silence (opens the form)', alertRoots, 'incident_silence');
    await run('silence form', submissions(silenceForms, { reason: 'Known noise during the fix' }, told));
    const extendForms = await opening(
      'Extend silence (opens the form)',
      alertRoots,
      'incident_extend_silence',
    );
    await run('extend form', submissions(extendForms, {}, told));
    await run('Unsilence', onRoots(alertRoots, 'incident_unsilence', told));
    await run('resolve form', submissions(resolveForms, { resolution: 'Rolled back the deploy' }));

    // The same work typed, on incidents of its own, as the buttons' is used up by them; each answered in
    // the ack, by its own clicker, in the incident's channel.
    const typing = await incidents('typed');
    // In this order: extend and unsilence act on silence's silences, postmortem on resolve's incidents.
    const typedRows: Array<[name: string, on: Root[], text: string, answer: string]> = [
      ['ack', typing.alert, 'ack INC', 'You acknowledged INC'],
      ['silence', typing.alert, 'silence INC 2h Known noise during the fix', 'Silenced the alerts of INC'],
      ['extend', typing.alert, 'extend INC 1h', 'The silence of INC'],
      ['unsilence', typing.alert, 'unsilence INC', 'Lifted the silence of INC'],
      ['resolve', typing.declared, 'resolve INC Rolled back the deploy', 'Resolved INC'],
      ['postmortem', typing.declared, 'postmortem INC', 'post-mortem skeleton of INC'],
    ];
    for (const [name, on, text, answer] of typedRows) {
      await run(
        `\`/incident ${name}\``,
        on.map((root, i) => () => ({
          ...command('/incident', text.replace('INC', `INC-${root.id}`), root.channel, sre(i)),
          answers: new RegExp(`${answer.replace('INC', `INC-${root.id}`)}\\b`),
        })),
      );
    }
    return rows;
  } finally {
    await stop(bot.child);
    alertmanager.server.close();
  }
}
