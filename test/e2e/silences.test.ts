import { afterAll, beforeAll, expect, it } from 'vitest';
import { AlertmanagerApi } from '../../src/alertmanager/alertmanagerApi.js';
import {
  type AlertmanagerCluster,
  describeWithAlertmanager,
  startAlertmanagerCluster,
} from '../support/alertmanagerCluster.js';
import { unusedPort, waitFor } from '../support/services.js';
import { SRE, slashCommand } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, startTestBot, TEST_SECRETS, type TestBot } from '../support/testBot.js';

const text = (value: unknown) => JSON.stringify(value);
const PAYMENTS = 'C0PAYMENTS';

describeWithAlertmanager('/incident silence, extend and unsilence, through a real Alertmanager', () => {
  let bot: TestBot;
  let cluster: AlertmanagerCluster;
  let am: AlertmanagerApi;
  let id: number;
  let ref: string;
  const alert = {
    labels: { alertname: 'HighLatency', service: 'payments-api', severity: 'critical', instance: 'pay-1' },
    annotations: { summary: 'p99 above 2 s' },
    startsAt: new Date().toISOString(),
  };
  beforeAll(async () => {
    const port = await unusedPort();
    cluster = await startAlertmanagerCluster({
      webhookUrls: [`http://127.0.0.1:${port}/alertmanager`],
      token: TEST_SECRETS.alertmanagerToken,
    });
    const url = cluster.peers[0]!.url;
    am = new AlertmanagerApi([`${url}/`], undefined, 2_000);
    bot = await startTestBot({
      env: { PORT: String(port) },
      configYaml: `${DEFAULT_TEST_CONFIG}alertmanager:\n  urls: ['${url}']\nsilences:\n  silencers: [${SRE.alice}, ${SRE.bob}]\n`,
    });
    // The alert goes to Alertmanager, which opens the incident through the bot's webhook.
    await cluster.fire([alert]);
    id = await waitFor(
      async () => (await bot.app.pool.query('SELECT id::int AS id FROM incidents')).rows[0]?.id as number,
      30_000,
      'the incident Alertmanager opens',
    );
    ref = `INC-${id}`;
  }, 90_000);
  afterAll(async () => {
    await bot?.stop();
    await cluster?.stop();
  });

  const rootText = () =>
    text(
      bot.slack.emulator.channelMessages(PAYMENTS).find((m) => text(m.blocks).includes(`${ref} ·`))?.blocks,
    );
  const threadText = () => {
    const root = bot.slack.emulator
      .channelMessages(PAYMENTS)
      .find((m) => text(m.blocks).includes(`${ref} ·`));
    return root ? text(bot.slack.emulator.threadOf(PAYMENTS, root.ts).map((m) => m.blocks)) : '';
  };
  const liveSilenceId = async () =>
    (
      await bot.app.pool.query(
        "SELECT silence_id FROM incident_silences WHERE incident_id = $1 AND state = 'live'",
        [id],
      )
    ).rows[0]?.silence_id as string | undefined;
  const counts = async () =>
    (
      await bot.app.pool.query(
        `SELECT (SELECT count(*) FROM incident_silences)::int AS silences,
                (SELECT count(*) FROM timeline_entries)::int AS entries`,
      )
    ).rows[0];

  it('refuses bad input and people who are not silencers, and stores nothing', async () => {
    await waitFor(() => rootText().includes('HighLatency'), 20_000, 'the root message');
    const before = await counts();
    const { rows } = await bot.app.pool.query(
      "INSERT INTO incidents (title, severity, channel_id) VALUES ('by hand', 'P2', 'C0WARROOM') RETURNING id::int AS id",
    );
    const cases: Array<[string, RegExp, string?]> = [
      [`silence ${ref} 0 deploying`, /"0" is not a duration[\s\S]*Usage: `\/incident silence/],
      [`silence ${ref} -1h deploying`, /"-1h" is not a duration/],
      [`silence ${ref} 9999d deploying`, /at most 7 days \(silences.maxDuration\)/],
      [`silence ${ref} 2h`, /Say why\.[\s\S]*Usage: `\/incident silence/],
      ['silence INC-99999 2h x', /There is no incident INC-99999/],
      [`silence INC-${rows[0].id} 2h x`, /declared by hand/],
      [`extend ${ref} 1h`, new RegExp(`${ref} is not silenced`)],
      [`unsilence ${ref}`, new RegExp(`${ref} is not silenced`)],
      [`silence ${ref} 2h x`, /You may not silence alerts\. Silencers: <@U0ALICE>, <@U0BOB>\./, SRE.carol],
    ];
    for (const [input, expected, user] of cases) {
      const answer = await slashCommand(bot, input, user ? { user } : {});
      expect(answer.responseType, input).toBe('ephemeral');
      expect(answer.text, input).toMatch(expected);
    }
    await bot.app.pool.query('DELETE FROM incidents WHERE id = $1', [rows[0].id]);
    expect(await counts()).toEqual(before);
    expect(await am.listSilences()).toEqual([]);
  });

  it('silences in Alertmanager: the alert is suppressed, the root shows 🔕, the thread tells it', async () => {
    const answer = await slashCommand(bot, `silence ${ref} 2h deploying fix <!channel> & <b>`);
    expect(answer.text).toMatch(new RegExp(`^Silenced the alerts of ${ref} in Alertmanager until <!date\\^`));
    const [silence] = await am.listSilences();
    expect(silence).toMatchObject({
      state: 'active',
      createdBy: SRE.alice,
      matchers: [
        { name: 'alertname', value: 'HighLatency' },
        { name: 'service', value: 'payments-api' },
      ],
    });
    expect(silence!.comment).toMatch(
      new RegExp(`^${ref}: deploying fix <!channel> & <b> \\[incident-bot s-`),
    );
    expect(await liveSilenceId()).toBe(silence!.id);
    // Alertmanager itself now holds the alert back.
    const suppressed = await waitFor(
      async () => {
        const alerts = (await (await fetch(`${cluster.peers[0]!.url}/api/v2/alerts`)).json()) as Array<{
          status: { state: string; silencedBy: string[] };
        }>;
        return alerts.find((a) => a.status.state === 'suppressed');
      },
      10_000,
      'the alert to be suppressed',
    );
    expect(suppressed.status.silencedBy).toEqual([silence!.id]);
    await waitFor(() => rootText().includes('🔕 *Silenced* until <!date^'), 20_000, '🔕 on the root');
    expect(rootText()).toContain('by <@U0ALICE>: _deploying fix &lt;!channel&gt; &amp; &lt;b&gt;_');
    expect(rootText()).not.toContain('<!channel>');
    expect(rootText()).toContain(`/#/silences/${silence!.id}|🔕 Its silence in Alertmanager>`);
    await waitFor(() => threadText().includes('silenced these alerts in Alertmanager'), 20_000, 'the thread');
    expect(threadText()).toContain('_Matching_ `alertname=HighLatency, service=payments-api`');
    const again = await slashCommand(bot, `silence ${ref} 1h again`, { user: SRE.bob });
    expect(again.text).toMatch(/already silenced until .* by <@U0ALICE>/);
  });

  it('extends: the incident points at the live silence, a replaced one is expired', async () => {
    const before = await liveSilenceId();
    const { endsAt } = await am.getSilence(before!);
    const answer = await slashCommand(bot, `extend ${ref} 1h`, { user: SRE.bob });
    expect(answer.text).toMatch(new RegExp(`^The silence of ${ref} now ends <!date`));
    const after = await liveSilenceId();
    const live = await am.getSilence(after!);
    expect(live.state).toBe('active');
    expect(live.endsAt.getTime()).toBe(endsAt.getTime() + 3_600_000);
    if (after !== before) expect((await am.getSilence(before!)).state).toBe('expired');
    await waitFor(
      () => threadText().includes('extended the silence until'),
      20_000,
      'extension in the thread',
    );
  });

  it('unsilences: expired in Alertmanager, and the root no longer shows 🔕', async () => {
    const id0 = await liveSilenceId();
    const answer = await slashCommand(bot, `unsilence ${ref}`);
    expect(answer.text).toBe(`Lifted the silence of ${ref}: Alertmanager notifies its alerts again.`);
    expect((await am.getSilence(id0!)).state).toBe('expired');
    expect(await liveSilenceId()).toBeUndefined();
    await waitFor(() => !rootText().includes('🔕'), 20_000, 'the root without 🔕');
    await waitFor(() => threadText().includes('lifted the silence'), 20_000, 'the thread');
  });

  it('records once that a silence ran out, and the root stops saying it', async () => {
    await slashCommand(bot, `silence ${ref} 1h short maintenance`);
    await waitFor(() => rootText().includes('short maintenance'), 20_000, '🔕 on the root');
    // Its end comes now rather than in an hour: the job the command scheduled at the end runs now.
    await bot.app.pool.query(
      "UPDATE incident_silences SET ends_at = now() - interval '1 second' WHERE incident_id = $1 AND state = 'live'",
      [id],
    );
    // In Alertmanager too, which the job asks: one still running there longer is followed, not ended.
    await am.expireSilence((await liveSilenceId())!);
    await bot.app.effects.silenceEnds(id, new Date());
    await waitFor(() => !rootText().includes('🔕'), 20_000, 'the root without 🔕');
    await waitFor(() => threadText().includes('The silence ended'), 20_000, 'the thread');
    const { rows } = await bot.app.pool.query(
      "SELECT count(*)::int AS n FROM timeline_entries WHERE incident_id = $1 AND kind = 'silence_ended'",
      [id],
    );
    expect(rows[0].n).toBe(1);
  });
});
