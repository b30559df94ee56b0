import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertmanagerApi } from '../../src/alertmanager/alertmanagerApi.js';
import { validateBlocks } from '../../src/render/blockKit.js';
import { activeSilence } from '../../src/silences/silences.js';
import { payload } from '../support/alertmanager.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { unusedPort, waitFor } from '../support/services.js';
import {
  blockActionsPayload,
  clickOn,
  lastEphemeralTo,
  messageOf,
  SRE,
  sendPayload,
  slashCommand,
  submitView,
} from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * The Silence, Extend and Unsilence controls of an alert-born incident's root, their forms and the
 * resolve form's offer, against a real Alertmanager: what each shows, and what Alertmanager then holds.
 */

const HOUR = 3_600_000;
const HOSTILE = '<!channel> <https://evil.example|click> & co';
/** A silencer who sends nothing until a test asks her to. */
const DANA = 'U0DANA';

interface Button {
  action_id: string;
  text: { text: string };
  confirm?: unknown;
}

/** The buttons of the incident's root as Slack shows it now. */
function rootButtons(bot: TestBot, where: { channel: string; messageTs: string }): Button[] {
  const root = bot.slack.emulator.channelMessages(where.channel).find((m) => m.ts === where.messageTs);
  const actions = (root?.blocks as Array<{ block_id?: string; elements?: Button[] }> | undefined)?.find(
    (b) => b.block_id === 'incident_actions',
  );
  return actions?.elements ?? [];
}
const ids = (buttons: Button[]) => buttons.map((b) => b.action_id);

/** The last form the bot opened, as the emulator holds it. */
function lastView(bot: TestBot) {
  const view = bot.slack.emulator.openedViews().at(-1);
  if (!view) throw new Error('no form was opened');
  return view;
}
const blockOf = (view: { blocks: unknown[] }, id: string) =>
  view.blocks.find((b) => (b as { block_id?: string }).block_id === id) as
    | { element: { initial_value?: string; options?: Array<{ value: string }> } }
    | undefined;

describeWithAlertmanager('silence controls on the root, against a real Alertmanager', () => {
  let cluster: AlertmanagerCluster;
  let bot: TestBot;
  let api: AlertmanagerApi;
  let amUrl: string;
  let incidents = 0;

  beforeAll(async () => {
    // The peer notifies nobody: the test delivers the webhook itself.
    const nowhere = `http://127.0.0.1:${await unusedPort()}/alertmanager`;
    cluster = await startAlertmanagerCluster({ webhookUrls: [nowhere], token: 'x'.repeat(32) });
    amUrl = `${cluster.peers[0]!.url}/`;
    api = new AlertmanagerApi([amUrl], undefined, 2_000);
    bot = await startTestBot({
      configYaml: `${DEFAULT_TEST_CONFIG}\nalertmanager:\n  urls: ['${amUrl}']\nsilences:\n  maxDuration: 7d\n  silencers: [${SRE.alice}, ${SRE.bob}, ${DANA}]\n`,
    });
    // Before any request: each makes the bot learn its sender's name.
    bot.slack.emulator.addUser({ id: SRE.alice, name: 'alice', realName: 'Alice Ops' });
    bot.slack.emulator.addUser({ id: DANA, name: 'dana', realName: 'Dana Scully' });
  }, 60_000);
  afterAll(async () => {
    await bot?.stop();
    await cluster?.stop();
  });

  /** A new alert-born incident, its root posted; the common labels carry a hostile value. */
  async function alertBorn(): Promise<{ id: number; root: { channel: string; messageTs: string } }> {
    incidents += 1;
    const res = await bot.deliver(
      payload({
        group: `SilenceMe${incidents}`,
        // Its commonLabels are its alert's, as Alertmanager sends them: the form proposes what they share.
        alerts: [{ name: `SilenceMe${incidents}`, instance: 'pay-1', labels: { team: HOSTILE } }],
        commonLabels: { team: HOSTILE },
      }),
    );
    const id = Number(((await jsonOf(res)).incident ?? '').slice(4));
    return { id, root: await messageOf(bot, 'incident', id) };
  }
  const silencesInAlertmanager = async () =>
    ((await (await fetch(`${amUrl}api/v2/silences`)).json()) as unknown[]).length;
  const silenceRows = async (id: number) =>
    Number(
      (await bot.app.pool.query('SELECT count(*) FROM incident_silences WHERE incident_id = $1', [id]))
        .rows[0].count,
    );

  /** Silences the incident through its form; resolves once the root offers to lift the silence. */
  async function silenceThroughForm(
    incident: { id: number; root: { channel: string; messageTs: string } },
    duration: string,
    user: string = SRE.alice,
  ) {
    await submitView(
      bot,
      { callback_id: 'incident_silence', private_metadata: String(incident.id) },
      { duration: { selected: duration }, reason: 'noise', matchers: 'service="payments-api"' },
      user,
    );
    const silence = await waitFor(() => activeSilence(bot.app.pool, incident.id), 20_000, 'the silence');
    await waitFor(
      () => ids(rootButtons(bot, incident.root)).includes('incident_unsilence'),
      20_000,
      'Unsilence',
    );
    return silence;
  }

  it('offers Silence on the root; the form proposes the matchers and says where they come from', async () => {
    const { id, root } = await alertBorn();
    const buttons = rootButtons(bot, root);
    expect(ids(buttons)).toContain('incident_silence');
    expect(ids(buttons)).not.toContain('incident_unsilence');
    expect(validateBlocks([{ type: 'actions', elements: buttons }])).toEqual([]);

    expect(await clickOn(bot, 'incident', id, 'incident_silence')).toBe(200);
    const view = await waitFor(() =>
      bot.slack.emulator.openedViews().find((v) => v.privateMetadata === String(id)),
    );
    expect(view.callbackId).toBe('incident_silence');
    expect(validateBlocks(view.blocks, 'modal')).toEqual([]);
    // The group's labels name only the alertname: the common labels are proposed, and the form says so.
    expect(blockOf(view, 'matchers')?.element.initial_value).toBe(
      `alertname="SilenceMe${incidents}"\nservice="payments-api"\nseverity="critical"\nteam="${HOSTILE}"`,
    );
    const context = JSON.stringify(view.blocks.filter((b) => b.type === 'context'));
    expect(context).toContain('labels all its alerts share');
    expect(context).not.toContain('evil');
  });

  it('creates the silence in Alertmanager on submit, tells the person, and the root offers Extend and Unsilence', async () => {
    const { id, root } = await alertBorn();
    const before = await silencesInAlertmanager();
    const answer = await submitView(
      bot,
      { callback_id: 'incident_silence', private_metadata: String(id) },
      {
        duration: { selected: '4h' },
        reason: 'deploying the fix <!here>',
        matchers: `service="payments-api"\nteam="${HOSTILE}"`,
      },
      SRE.bob,
    );
    expect(answer).toEqual({ status: 200, body: {} });
    const told = await waitFor(
      () => lastEphemeralTo(bot, SRE.bob).includes('🔕') && lastEphemeralTo(bot, SRE.bob),
    );
    expect(told).toContain(`Silenced INC-${id}`);
    expect(told).toContain('&lt;!channel&gt; &lt;https://evil.example|click&gt; &amp; co');

    const silence = (await activeSilence(bot.app.pool, id))!;
    const inAlertmanager = await api.getSilence(silence.silenceId);
    expect(inAlertmanager.state).toBe('active');
    expect(inAlertmanager.matchers).toEqual([
      { name: 'service', value: 'payments-api', isRegex: false, isEqual: true },
      { name: 'team', value: HOSTILE, isRegex: false, isEqual: true },
    ]);
    expect(inAlertmanager.createdBy).toContain(SRE.bob);
    expect(inAlertmanager.comment).toContain(`INC-${id}`);
    expect(inAlertmanager.comment).toContain('deploying the fix <!here>');
    const hours = (inAlertmanager.endsAt.getTime() - Date.now()) / HOUR;
    expect(hours).toBeGreaterThan(3.9);
    expect(hours).toBeLessThanOrEqual(4);
    expect(await silencesInAlertmanager()).toBe(before + 1);

    const buttons = await waitFor(() => {
      const now = rootButtons(bot, root);
      return ids(now).includes('incident_unsilence') && now;
    });
    expect(ids(buttons)).toContain('incident_extend_silence');
    expect(ids(buttons)).not.toContain('incident_silence');
    expect(buttons.find((b) => b.action_id === 'incident_unsilence')?.confirm).toBeDefined();
  });

  it.each([
    ['custom duration 0', { duration: { selected: 'custom' }, custom_duration: '0' }, 'custom_duration'],
    ['custom duration -1h', { duration: { selected: 'custom' }, custom_duration: '-1h' }, 'custom_duration'],
    [
      'custom duration 9999d',
      { duration: { selected: 'custom' }, custom_duration: '9999d' },
      'custom_duration',
    ],
    ['custom with no duration', { duration: { selected: 'custom' } }, 'custom_duration'],
    ['no matchers', { matchers: ' \n ' }, 'matchers'],
    ['a regex matcher', { matchers: 'service=~"payments.*"' }, 'matchers'],
    ['a negative matcher', { matchers: 'service!="payments-api"' }, 'matchers'],
    ['no reason', { reason: '' }, 'reason'],
  ])('refuses %s under its field, storing nothing', async (_, fields, field) => {
    const { id } = await alertBorn();
    const before = await silencesInAlertmanager();
    const answer = await submitView(
      bot,
      { callback_id: 'incident_silence', private_metadata: String(id) },
      { duration: { selected: '1h' }, reason: 'noise', matchers: 'service="payments-api"', ...fields },
    );
    expect(answer.body.response_action).toBe('errors');
    expect(Object.keys(answer.body.errors ?? {})).toEqual([field]);
    expect(await silenceRows(id)).toBe(0);
    expect(await silencesInAlertmanager()).toBe(before);
  });

  /** Submits the Silence form as `user` on an incident already silenced: refused, under the reason field. */
  const silenceAgain = async (incident: { id: number }, user: string) =>
    (
      await submitView(
        bot,
        { callback_id: 'incident_silence', private_metadata: String(incident.id) },
        { duration: { selected: '1h' }, reason: 'noise', matchers: 'service="payments-api"' },
        user,
      )
    ).body;

  it('refuses a Silence form on an incident silenced meanwhile in plain text: the end in UTC, the silencer by name', async () => {
    const incident = await alertBorn();
    const silence = await silenceThroughForm(incident, '2h');
    const endsAt = `${silence.endsAt.toISOString().slice(0, 16).replace('T', ' ')} UTC`;
    // Slack shows a field's error as it is: markup there would show as <!date^…> and <@U…>.
    expect(await silenceAgain(incident, SRE.bob)).toEqual({
      response_action: 'errors',
      errors: {
        reason: `INC-${incident.id} is already silenced until ${endsAt} by Alice Ops: extend it (\`/incident extend\`) or lift it (\`/incident unsilence\`).`,
      },
    });
    expect((await silenceAgain(incident, SRE.alice)).errors?.reason).toContain(`until ${endsAt} by you:`);
  });

  it('names the silencer in a refusal without asking Slack on the way: by id until Slack has answered once', async () => {
    const incident = await alertBorn();
    const usersInfo = bot.slack.emulator.hold('users.info');
    await silenceThroughForm(incident, '2h', DANA);
    // Her form made the bot ask her name, which Slack has not answered.
    await usersInfo.reached;
    for (let i = 0; i < 2; i++)
      expect((await silenceAgain(incident, SRE.bob)).errors?.reason).toContain(`by ${DANA}:`);
    usersInfo.release();
    await waitFor(
      async () =>
        (await silenceAgain(incident, SRE.bob)).errors?.reason?.includes('by Dana Scully:') === true,
      10_000,
      'the refusal naming her',
    );
    expect(bot.slack.emulator.callsOf('users.info').filter((c) => c.params.user === DANA)).toHaveLength(1);
  });

  it('tells someone not among the silencers before any form opens', async () => {
    const { id } = await alertBorn();
    const opened = bot.slack.emulator.openedViews().length;
    expect(await clickOn(bot, 'incident', id, 'incident_silence', { user: SRE.carol })).toBe(200);
    await waitFor(() => lastEphemeralTo(bot, SRE.carol).includes('You may not silence alerts'));
    expect(bot.slack.emulator.openedViews().length).toBe(opened);
  });

  it('takes a click only from the root: from another message it opens nothing and says why', async () => {
    const { id, root } = await alertBorn();
    const opened = bot.slack.emulator.openedViews().length;
    const elsewhere = blockActionsPayload('incident_silence', String(id), {
      channel: root.channel,
      messageTs: '1700000000.000100',
      user: SRE.carol,
    });
    expect(await sendPayload(bot, elsewhere)).toBe(200);
    await waitFor(() => lastEphemeralTo(bot, SRE.carol).includes('does not come from'));
    expect(bot.slack.emulator.openedViews().length).toBe(opened);
  });

  it('extends from the root, and Unsilence expires it in Alertmanager; the root offers Silence again', async () => {
    const { id, root } = await alertBorn();
    const first = await silenceThroughForm({ id, root }, '1h');
    expect(ids(rootButtons(bot, root))).toContain('incident_extend_silence');

    expect(await clickOn(bot, 'incident', id, 'incident_extend_silence')).toBe(200);
    const extendForm = await waitFor(
      () => lastView(bot).callbackId === 'incident_extend' && lastView(bot),
      20_000,
      'the extend form',
    );
    expect(validateBlocks(extendForm.blocks, 'modal')).toEqual([]);
    expect(blockOf(extendForm, 'duration')?.element.options?.map((o) => o.value)).toEqual([
      '1h',
      '4h',
      '24h',
    ]);
    const extended = await submitView(
      bot,
      { callback_id: 'incident_extend', private_metadata: String(id) },
      { duration: { selected: '4h' } },
    );
    expect(extended).toEqual({ status: 200, body: {} });
    const live = await waitFor(
      async () => {
        const now = await activeSilence(bot.app.pool, id);
        return now && now.endsAt.getTime() > first.endsAt.getTime() && now;
      },
      20_000,
      'the silence extended',
    );
    expect(live.endsAt.getTime() - first.endsAt.getTime()).toBe(4 * HOUR);
    expect((await api.getSilence(live.silenceId)).endsAt).toEqual(live.endsAt);

    // A click Slack delivers twice expires it once.
    const click = blockActionsPayload('incident_unsilence', String(id), { ...root, user: SRE.alice });
    expect(await sendPayload(bot, click)).toBe(200);
    expect(await sendPayload(bot, click)).toBe(200);
    await waitFor(
      async () => (await api.getSilence(live.silenceId)).state === 'expired',
      20_000,
      'expired in Alertmanager',
    );
    // Told once that it is expired; the replay, that it was handled already.
    const told = await waitFor(
      () => {
        const texts = bot.slack.emulator.ephemerals().map((e) => e.text);
        const expired = texts.filter((t) => t.includes(`INC-${id}'s silence is expired`));
        return expired.length > 0 && texts.some((t) => t.includes('already handled')) && expired;
      },
      20_000,
      'the clicker told',
    );
    expect(told).toHaveLength(1);
    expect(await activeSilence(bot.app.pool, id)).toBeUndefined();
    await waitFor(
      () => ids(rootButtons(bot, root)).includes('incident_silence'),
      20_000,
      'Silence on the root again',
    );
    expect(ids(rootButtons(bot, root))).not.toContain('incident_unsilence');
  });

  it('offers, in the resolve form, to expire the silence, and expires it when checked', async () => {
    const { id, root } = await alertBorn();
    const silence = await silenceThroughForm({ id, root }, '24h');

    expect(await clickOn(bot, 'incident', id, 'incident_resolve')).toBe(200);
    const form = await waitFor(() => lastView(bot).callbackId === 'incident_resolve' && lastView(bot));
    expect(validateBlocks(form.blocks, 'modal')).toEqual([]);
    expect(JSON.stringify(blockOf(form, 'silence'))).toContain('"initial_options"');

    const answer = await submitView(
      bot,
      { callback_id: 'incident_resolve', private_metadata: String(id) },
      { resolution: 'rolled back', silence: { checked: ['expire'] } },
    );
    expect(answer).toEqual({ status: 200, body: {} });
    await waitFor(async () => (await api.getSilence(silence.silenceId)).state === 'expired');
    // Alertmanager expires it before the bot's transaction recording that commits.
    await waitFor(async () => (await activeSilence(bot.app.pool, id)) === undefined);
  });

  it('keeps Expire silence on the root of an incident resolved while silenced, until it ends', async () => {
    const { id, root } = await alertBorn();
    const silence = await silenceThroughForm({ id, root }, '1h');
    await slashCommand(bot, `resolve INC-${id} fixed upstream`);
    const resolved = await waitFor(() => {
      const buttons = rootButtons(bot, root);
      return !ids(buttons).includes('incident_resolve') && buttons;
    });
    expect(ids(resolved)).not.toContain('incident_extend_silence');
    const expire = resolved.find((b) => b.action_id === 'incident_unsilence');
    expect(expire?.text.text).toBe('Expire silence');

    expect(await clickOn(bot, 'incident', id, 'incident_unsilence')).toBe(200);
    await waitFor(async () => (await api.getSilence(silence.silenceId)).state === 'expired');
    await waitFor(() => !ids(rootButtons(bot, root)).includes('incident_unsilence'));
  });
});

describe('silence controls without `alertmanager:` configured', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('shows no Silence control, and a forged click says what to configure', async () => {
    const res = await bot.deliver(payload({ group: 'NoAlertmanager', alerts: [{ instance: 'pay-1' }] }));
    const id = Number(((await jsonOf(res)).incident ?? '').slice(4));
    const root = await messageOf(bot, 'incident', id);
    const buttons = await waitFor(() => {
      const now = rootButtons(bot, root);
      return now.length > 0 && now;
    });
    expect(ids(buttons)).not.toContain('incident_silence');
    expect(ids(buttons)).toContain('incident_resolve');

    expect(await clickOn(bot, 'incident', id, 'incident_silence')).toBe(200);
    await waitFor(() => lastEphemeralTo(bot, SRE.alice).includes('alertmanager.urls'));
    expect(bot.slack.emulator.openedViews()).toEqual([]);
  });
});
