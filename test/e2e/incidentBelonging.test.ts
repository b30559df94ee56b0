import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { paymentsApiCatalog, startHealthyEndpoint } from '../support/healthEndpoint.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import {
  blockActionsPayload,
  clickOn,
  lastEphemeralTo,
  messageOf,
  SRE,
  sendPayload,
  slashCommand,
} from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * /action and /health typed in a shared channel (no incident channels) belong to its one open incident,
 * or, with several open there, to the one their typist chooses with a button.
 */

const text = (value: unknown) => JSON.stringify(value);

function configYaml(healthUrl: string) {
  return `${DEFAULT_TEST_CONFIG}
${paymentsApiCatalog(healthUrl)}      - name: scale
        description: Scale the payments-api deployment
        kind: scale
        driver: { type: command, argv: [node, -e, '0', '{{replicas}}'] }
        params: { replicas: { type: integer, min: 1, max: 20 } }
        approval: { approvers: [${SRE.bob}], required: 1, expiresAfter: 15m }
`;
}

/** A click on a button of a message only its clicker sees: Slack sends no `message` for those. */
function ephemeralClick(actionId: string, value: string, channel: string, user: string = SRE.alice) {
  const payload = blockActionsPayload(actionId, value, { channel, user });
  delete payload.message;
  payload.container = { type: 'message', message_ts: '1.000002', channel_id: channel, is_ephemeral: true };
  return payload;
}

interface Button {
  action_id: string;
  value: string;
  text: { text: string };
}

/** The choice buttons of an answer, by their label (`For INC-3`). */
function choiceButtons(blocks: unknown[] | undefined): Map<string, Button> {
  const buttons = (blocks ?? [])
    .map((b) => (b as { accessory?: Button }).accessory)
    .filter((b): b is Button => b !== undefined);
  return new Map(buttons.map((b) => [b.text.text, b]));
}

describe('actions and checks belong to their incident in a shared channel', () => {
  let bot: TestBot;
  let health: { url: string; close: () => void };
  beforeAll(async () => {
    health = await startHealthyEndpoint();
    bot = await startTestBot({ configYaml: configYaml(health.url) });
  });
  afterAll(async () => {
    await bot?.stop();
    health?.close();
  });

  const declare = async (channel: string, title: string) => {
    const answer = await slashCommand(bot, `declare P2 ${title}`, { channel });
    const ref = /Declared (INC-\d+)/.exec(answer.text)![1]!;
    const root = await messageOf(bot, 'incident', ref.slice(4));
    return { ref, id: Number(ref.slice(4)), rootTs: root.messageTs };
  };
  const count = async (table: string) =>
    (await bot.app.pool.query(`SELECT count(*)::int AS n FROM ${table}`)).rows[0].n as number;
  const threadText = (channel: string, ts: string) =>
    text(bot.slack.emulator.threadOf(channel, ts).map((m) => m.blocks));
  const settled = () => Promise.all([waitForQueueIdle(bot.app.health), waitForQueueIdle(bot.app.slackSync)]);

  it('posts /action and /health in the thread of the one open incident, and its post-mortem lists them', async () => {
    const channel = 'C0SHAREDONE';
    const resolved = await declare(channel, 'Yesterday, over');
    await slashCommand(bot, `resolve ${resolved.ref} It passed`, { channel });
    const incident = await declare(channel, 'Checkout is slow');

    const requested = await slashCommand(bot, 'scale payments-api replicas=6', {
      channel,
      command: '/action',
    });
    expect(requested.text).toMatch(
      new RegExp(`Requested ACT-\\d+: scale on payments-api \\(replicas=6\\) for ${incident.ref}\\.`),
    );
    const ref = /Requested (ACT-\d+)/.exec(requested.text)![1]!;
    const { rows } = await bot.app.pool.query(
      'SELECT incident_id::int AS "incidentId", channel_id AS "channelId", thread_ts AS "threadTs" FROM action_requests WHERE id = $1',
      [Number(ref.slice(4))],
    );
    expect(rows[0]).toEqual({ incidentId: incident.id, channelId: channel, threadTs: incident.rootTs });
    await waitFor(
      () =>
        threadText(channel, incident.rootTs).includes(
          `*${ref} · scale* on *payments-api* for ${incident.ref}`,
        ),
      20_000,
      'the approval request in the thread',
    );

    const checked = await slashCommand(bot, 'payments-api', { channel, command: '/health' });
    expect(checked.text).toBe(
      `Running the health checks of payments-api for ${incident.ref}; results follow in its thread.`,
    );
    await waitFor(
      () => threadText(channel, incident.rootTs).includes(`*Health checks* for ${incident.ref} requested by`),
      20_000,
      'the health result in the thread',
    );
    expect(text(bot.slack.emulator.channelMessages(channel).map((m) => m.blocks))).not.toContain(
      'Health checks',
    );

    await slashCommand(bot, `postmortem ${incident.ref}`, { channel });
    const file = await waitFor(
      () => bot.slack.emulator.files().find((f) => f.filename === `${incident.ref}-postmortem.md`),
      20_000,
      'the post-mortem',
    );
    const timeline = file.content
      .split('\n')
      .filter((line) => / — (Action requested|Health check) /.test(line));
    expect(timeline).toEqual([
      expect.stringMatching(new RegExp(`Action requested by .+: .*request: ${ref}\\b`)),
      expect.stringMatching(/Health check by .+: .*service: payments-api/),
    ]);
    const other = await bot.app.pool.query(
      "SELECT count(*)::int AS n FROM timeline_entries WHERE incident_id = $1 AND kind IN ('health_check', 'action_requested')",
      [resolved.id],
    );
    expect(other.rows[0].n).toBe(0);
    await settled();
  });

  it("tells the clicker of a button in the incident's thread in that thread", async () => {
    const channel = 'C0SHAREDCLICK';
    const incident = await declare(channel, 'Refunds are slow');
    const requested = await slashCommand(bot, 'scale payments-api replicas=3', {
      channel,
      command: '/action',
    });
    const id = /Requested ACT-(\d+)/.exec(requested.text)![1]!;
    await clickOn(bot, 'request', id, 'action_approve', { user: SRE.carol });
    const refusal = await waitFor(
      () => bot.slack.emulator.ephemerals(SRE.carol).at(-1),
      20_000,
      'the refusal',
    );
    expect(refusal).toMatchObject({ channel, threadTs: incident.rootTs });
    expect(refusal.text).toContain('You are not an approver');
    await settled();
  });

  it('asks which incident when several are open, runs the choice once, and writes nothing before it', async () => {
    const channel = 'C0SHAREDTWO';
    const first = await declare(channel, 'Payments <!channel> & refunds fail');
    const second = await declare(channel, 'Checkout latency');
    const requests = await count('action_requests');

    const trigger = 'trigger-choose-action';
    const asked = await slashCommand(bot, 'scale payments-api replicas=4', {
      channel,
      command: '/action',
      trigger,
    });
    expect(asked.text).toBe('Several incidents are open in this channel: which is this for?');
    expect(text(asked.blocks)).toContain('Payments &lt;!channel&gt; &amp; refunds fail');
    const buttons = choiceButtons(asked.blocks);
    expect([...buttons.keys()]).toEqual([`For ${second.ref}`, `For ${first.ref}`]);
    expect(await count('action_requests')).toBe(requests);

    const chosen = buttons.get(`For ${first.ref}`)!;
    expect(await sendPayload(bot, ephemeralClick(chosen.action_id, chosen.value, channel))).toBe(200);
    await waitFor(
      () => lastEphemeralTo(bot, SRE.alice).includes(`for ${first.ref}`),
      20_000,
      'the answer to the choice',
    );
    const ref = /Requested (ACT-\d+)/.exec(lastEphemeralTo(bot, SRE.alice))![1]!;
    await waitFor(
      () => threadText(channel, first.rootTs).includes(`*${ref} · scale* on *payments-api* for ${first.ref}`),
      20_000,
      'the approval request in the chosen thread',
    );

    // The same click again, or the other incident's button: the command is already carried out.
    const other = buttons.get(`For ${second.ref}`)!;
    const refusals = () =>
      bot.slack.emulator
        .callsOf('chat.postEphemeral')
        .filter((c) => String(c.params.text).startsWith('This request was already handled.')).length;
    for (const [n, button] of [chosen, other].entries()) {
      await sendPayload(bot, ephemeralClick(button.action_id, button.value, channel));
      await waitFor(() => refusals() === n + 1, 20_000, 'the refusal of a second choice');
    }
    expect(await count('action_requests')).toBe(requests + 1);

    const healthTrigger = 'trigger-choose-health';
    const healthAsked = await slashCommand(bot, '', { channel, command: '/health', trigger: healthTrigger });
    const healthButton = choiceButtons(healthAsked.blocks).get(`For ${second.ref}`)!;
    await sendPayload(bot, ephemeralClick(healthButton.action_id, healthButton.value, channel));
    await sendPayload(bot, ephemeralClick(healthButton.action_id, healthButton.value, channel));
    await waitFor(
      () => threadText(channel, second.rootTs).includes(`*Health checks* for ${second.ref}`),
      20_000,
      'the health result in the chosen thread',
    );
    await settled();
    expect(
      bot.slack.emulator
        .allMessages()
        .filter((m) => text(m.blocks).includes(`*Health checks* for ${second.ref}`)),
    ).toHaveLength(1);
  });

  it('refuses a choice naming an incident that is not open in the channel, and a value it cannot read', async () => {
    const channel = 'C0SHAREDTHREE';
    const a = await declare(channel, 'Disk full');
    const b = await declare(channel, 'Queue backlog');
    const elsewhere = await declare('C0SHAREDFOUR', 'Unrelated');
    await slashCommand(bot, `resolve ${b.ref} Drained`, { channel });
    const requests = await count('action_requests');
    const value = (incident: number, trigger: string) =>
      JSON.stringify({ incident, trigger, text: 'scale payments-api replicas=2' });

    await sendPayload(bot, ephemeralClick('action_for_incident', value(elsewhere.id, 'forged-1'), channel));
    await waitFor(
      () =>
        lastEphemeralTo(bot, SRE.alice).startsWith(`${elsewhere.ref} is not an incident of this channel.`),
      20_000,
      'the refusal of another channel',
    );
    await sendPayload(bot, ephemeralClick('action_for_incident', value(b.id, 'forged-2'), channel));
    await waitFor(
      () => lastEphemeralTo(bot, SRE.alice).startsWith(`${b.ref} is already resolved.`),
      20_000,
      'the refusal of a resolved incident',
    );
    await sendPayload(bot, ephemeralClick('action_for_incident', '{"incident":"1; DROP"}', channel));
    await waitFor(
      () => lastEphemeralTo(bot, SRE.alice).startsWith('This button does not name an incident.'),
      20_000,
      'the refusal of a bad value',
    );
    const bad = JSON.stringify({
      incident: a.id,
      trigger: 'forged-3',
      text: 'scale payments-api replicas=99',
    });
    await sendPayload(bot, ephemeralClick('action_for_incident', bad, channel));
    await waitFor(
      () =>
        lastEphemeralTo(bot, SRE.alice).includes('Usage: `/action scale payments-api replicas=<whole number'),
      20_000,
      'the usage for bad params',
    );
    expect(await count('action_requests')).toBe(requests);

    // With one open incident left, the channel's commands belong to it without asking.
    const answer = await slashCommand(bot, 'scale payments-api replicas=2', { channel, command: '/action' });
    expect(answer.text).toContain(`for ${a.ref}.`);
    await settled();
  });
});
