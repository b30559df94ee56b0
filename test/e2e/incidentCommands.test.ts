import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { slackSignatureHeaders } from '../../src/sandbox/slackSigning.js';
import { payload } from '../support/alertmanager.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import {
  clickButton,
  clickOn,
  INCIDENT_CHANNEL,
  messageOf,
  SRE,
  slashCommand,
  submitView,
} from '../support/slackRequests.js';
import { startTestBot, type TestBot } from '../support/testBot.js';

const text = (value: unknown) => JSON.stringify(value);

describe('/incident, end to end through /slack/events', () => {
  let bot: TestBot;
  let ref: string;
  let id: number;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const settle = async () => {
    await waitForQueueIdle(bot.app.slackSync);
    await waitForQueueIdle(bot.app.tasks, 20_000, ['update-reminder', 'commander-reminder']);
  };
  const rootOf = () =>
    bot.slack.emulator.channelMessages(INCIDENT_CHANNEL).find((m) => text(m.blocks).includes(`${ref} ·`))!;
  const threadText = () =>
    text(bot.slack.emulator.threadOf(INCIDENT_CHANNEL, rootOf().ts).map((m) => m.blocks));
  const counts = async () =>
    (
      await bot.app.pool.query(
        'SELECT (SELECT count(*) FROM incidents)::int AS incidents, (SELECT count(*) FROM timeline_entries)::int AS entries, (SELECT coalesce(sum(version), 0) FROM incidents)::int AS versions',
      )
    ).rows[0];

  it('declares an incident: an answer for the declarer, the notification in the channel', async () => {
    const answer = await slashCommand(bot, 'declare P1 Checkout is failing for EU customers');
    expect(answer.status).toBe(200);
    expect(answer.responseType).toBe('ephemeral');
    ref = /Declared (INC-\d+) \(P1\) in this channel/.exec(answer.text)![1]!;
    id = Number(ref.slice(4));
    const root = await waitFor(() => rootOf(), 20_000, 'root message');
    const blocks = text(root.blocks);
    expect(blocks).toContain(`🔴 [P1] ${ref} · Checkout is failing for EU customers`);
    expect(blocks).toContain('Investigating');
    expect(blocks).toContain('_unassigned_');
    expect(blocks).toContain('declared by <@U0ALICE>');
    for (const action of ['incident_post_update', 'incident_resolve', 'incident_postmortem'])
      expect(blocks).toContain(action);
    const { rows } = await bot.app.pool.query(
      'SELECT kind, actor FROM timeline_entries WHERE incident_id = $1',
      [id],
    );
    expect(rows).toEqual([{ kind: 'incident_declared', actor: SRE.alice }]);
  });

  it('posts a status update into the thread and refreshes the root message', async () => {
    const answer = await slashCommand(
      bot,
      `update ${ref} identified Connection pool exhausted on payments-db`,
    );
    expect(answer.text).toBe(`Posted update #1 to ${ref}.`);
    await waitFor(() => threadText().includes('Update #1'), 20_000, 'update in thread');
    expect(threadText()).toContain('Identified');
    expect(threadText()).toContain('Connection pool exhausted on payments-db');
    await waitFor(() => text(rootOf().blocks).includes('Identified'), 20_000, 'root status');
  });

  it('opens the update form when no text is given, and posts what is submitted', async () => {
    const answer = await slashCommand(bot, `update ${ref}`);
    expect(answer.text).toBe('');
    // The form opens right after the acknowledgement.
    const opened = await waitFor(() => bot.slack.emulator.callsOf('views.open').at(-1), 20_000, 'views.open');
    expect(opened.ok).toBe(true);
    const view = opened.params.view as { callback_id: string; private_metadata: string };
    expect(view.callback_id).toBe('incident_update');
    expect(view.private_metadata).toBe(String(id));

    const invalid = await submitView(bot, view, {
      status: { selected: 'monitoring' },
      text: 'Fix deployed',
      next_update: 'soon',
    });
    expect(invalid.body).toEqual({
      response_action: 'errors',
      errors: { next_update: 'A whole number of minutes from 1 to 1440.' },
    });

    const submitted = await submitView(bot, view, {
      status: { selected: 'monitoring' },
      text: 'Fix deployed, error rate back under 1%',
      impact: 'EU checkout failed for 20 minutes',
      next_update: '30',
    });
    expect(submitted.status).toBe(200);
    expect(submitted.body).toEqual({});
    await waitFor(() => threadText().includes('Update #2'), 20_000, 'update #2');
    await waitFor(
      () => text(rootOf().blocks).includes('EU checkout failed for 20 minutes'),
      20_000,
      'impact on root',
    );
  });

  it('opens the update form on the status typed with no text', async () => {
    const before = bot.slack.emulator.callsOf('views.open').length;
    expect((await slashCommand(bot, `update ${ref} identified`)).text).toBe('');
    const opened = await waitFor(
      () => bot.slack.emulator.callsOf('views.open')[before],
      20_000,
      'views.open',
    );
    const { blocks } = opened.params.view as { blocks: Array<{ block_id?: string; element?: unknown }> };
    // The incident is monitoring: what was typed is what the form offers.
    expect(blocks.find((b) => b.block_id === 'status')?.element).toMatchObject({
      initial_option: { value: 'identified' },
    });
  });

  it('changes severity, assigns roles, takes notes', async () => {
    expect((await slashCommand(bot, `severity ${ref} P0`)).text).toBe(`${ref} is now P0.`);
    expect((await slashCommand(bot, `assign ${ref} commander <@U0BOB|bob>`)).text).toBe(
      `<@U0BOB> is now commander of ${ref}.`,
    );
    expect((await slashCommand(bot, `assign ${ref} scribe <@U0CAROL>`)).text).toBe(
      `<@U0CAROL> is now scribe of ${ref}.`,
    );
    // Slack escapes &, < and > in what people type: "v41 < v42 & paged DBA" arrives like this.
    expect(
      (await slashCommand(bot, `note ${ref} Rolled back payments-api to v41 &lt; v42 &amp; paged DBA`)).text,
    ).toBe(`Noted on the timeline of ${ref}.`);
    // Shown escaped once, as typed; not &amp;lt;.
    await waitFor(
      () => threadText().includes('Rolled back payments-api to v41 &lt; v42 &amp; paged DBA'),
      20_000,
      'note in thread',
    );
    expect(threadText()).toContain('Severity changed from *P1* to *P0* by <@U0ALICE>');
    expect(threadText()).toContain('<@U0BOB> is now *commander*');
    await waitFor(
      () => text(rootOf().blocks).includes('*Commander*\\n<@U0BOB>'),
      20_000,
      'commander on root',
    );
    expect(text(rootOf().blocks)).toContain('[P0]');
  });

  it('shows the mentions, channel links and links people type live, each without a label of its own, and pings no one at large', async () => {
    const own = /Declared (INC-\d+)/.exec((await slashCommand(bot, 'declare P3 Refunds are slow')).text)![1]!;
    const root = await messageOf(bot, 'incident', own.slice(4));
    const thread = () =>
      text(bot.slack.emulator.threadOf(INCIDENT_CHANNEL, root.messageTs).map((m) => m.blocks));
    const shownRoot = () =>
      text(bot.slack.emulator.allMessages().find((m) => m.ts === root.messageTs)?.blocks);
    // "@bob see #payments, a link, a & <b>, @here and @oncall" as Slack sends it (should_escape).
    const typed =
      '<@U0BOB|bob> see <#C0PAYMENTS|payments>, <https://grafana.example/d?a=1&amp;b=2|the graph> &amp; &lt;b&gt; <!here> <!subteam^S0ONCALL|@oncall>';
    await slashCommand(bot, `note ${own} ${typed}`);
    await slashCommand(
      bot,
      `update ${own} monitoring <@U0CAROL> rolled back: <https://deploy.example/42> <!channel>`,
    );
    // A form's field holds what was typed, markup included.
    await submitView(
      bot,
      { callback_id: 'incident_update', private_metadata: own.slice(4) },
      {
        status: { selected: 'monitoring' },
        text: 'Asked <@U0BOB> to watch <#C0PAYMENTS>',
        impact: 'See <https://status.example|the status page> & <!everyone>',
      },
    );
    for (const shown of [
      '<@U0BOB> see <#C0PAYMENTS>, <https://grafana.example/d?a=1&amp;b=2> &amp; &lt;b&gt; @here @oncall',
      '<@U0CAROL> rolled back: <https://deploy.example/42> @channel',
      'Asked <@U0BOB> to watch <#C0PAYMENTS>',
    ])
      await waitFor(() => thread().includes(shown), 20_000, shown);
    await waitFor(
      () => shownRoot().includes('*Impact*\\nSee <https://status.example> &amp; @everyone'),
      20_000,
      'the impact as typed',
    );
    expect(`${thread()} ${shownRoot()}`).not.toMatch(/<!(?:here|channel|everyone|subteam)/);
    // The timeline shows them as the thread does; the title, which alerts also make, stays escaped.
    const timeline = text((await slashCommand(bot, `timeline ${own}`)).blocks);
    expect(timeline).toContain('· <@U0BOB> see <#C0PAYMENTS>');
    expect(timeline).toContain('Monitoring: <@U0CAROL> rolled back: <https://deploy.example/42> @channel');
    await slashCommand(bot, `resolve ${own} Done`);
  });

  it('shows the timeline and the open incidents to the one who asks', async () => {
    const timeline = await slashCommand(bot, `timeline ${ref}`);
    const shown = text(timeline.blocks);
    for (const kind of ['Declared', 'Status update', 'Severity changed', 'Role assigned', 'Note'])
      expect(shown).toContain(kind);
    expect(shown.indexOf('Declared')).toBeLessThan(shown.indexOf('Note'));
    const list = await slashCommand(bot, 'list');
    expect(text(list.blocks)).toContain(`*${ref}* [P0] Checkout is failing for EU customers`);
    expect(list.responseType).toBe('ephemeral');
  });

  it('answers every bad input with what was wrong and the usage, and writes nothing', async () => {
    await settle();
    const before = await counts();
    const cases: Array<[string, RegExp, { channel?: string }?]> = [
      ['dance', /Unknown subcommand "dance"[\s\S]*\/incident declare/],
      ['declare P9 Broken', /"P9" is not a severity[\s\S]*Usage: `\/incident declare/],
      ['declare P1', /Say a title\.[\s\S]*Usage: `\/incident declare/],
      ['declare', /Give a severity/],
      ['note INC-99999 hello', /There is no incident INC-99999\.[\s\S]*Usage: `\/incident note/],
      ['note hello there', /not an incident channel[\s\S]*Usage: `\/incident note/],
      ['assign INC-1 captain <@U0BOB>', /"captain" is not a role/],
      ['assign INC-1 commander bob', /Mention exactly one person/],
      ['severity INC-1 P1 now', /Only a severity is expected/],
      [`update ${ref} identified ${'x'.repeat(3001)}`, /under 3000 characters/],
      [`silence ${ref} 2h deploying`, /`alertmanager\.urls`[\s\S]*ALERTMANAGER_API_TOKEN/],
    ];
    for (const [input, expected] of cases) {
      const answer = await slashCommand(bot, input);
      expect(answer.status, input).toBe(200);
      expect(answer.responseType, input).toBe('ephemeral');
      expect(answer.text, input).toMatch(expected);
    }
    expect(await counts()).toEqual(before);
  });

  it('refuses requests whose signature or timestamp is wrong, and writes nothing', async () => {
    const before = await counts();
    const body = new URLSearchParams({
      command: '/incident',
      text: 'declare P1 Forged',
      user_id: SRE.alice,
      channel_id: INCIDENT_CHANNEL,
      trigger_id: 't',
    }).toString();
    for (const headers of [
      slackSignatureHeaders('wrong-secret-wrong-secret', body),
      slackSignatureHeaders('test-signing-secret-0123456789', body, Math.floor(Date.now() / 1000) - 3600),
    ]) {
      const res = await fetch(`${bot.url}/slack/events`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
        body,
      });
      expect(res.status).toBe(401);
    }
    expect(await counts()).toEqual(before);
  });

  it('acts once on a request Slack delivers twice', async () => {
    const before = await counts();
    const first = await slashCommand(bot, 'declare P3 Slow dashboards', { trigger: 'trigger-dup-1' });
    const retry = await slashCommand(bot, 'declare P3 Slow dashboards', {
      trigger: 'trigger-dup-1',
      headers: { 'x-slack-retry-num': '1', 'x-slack-retry-reason': 'http_timeout' },
    });
    expect(first.text).toMatch(/^Declared INC-\d+/);
    expect(retry.text).toMatch(/already handled/);
    expect((await counts()).incidents).toBe(before.incidents + 1);
  });

  it('acts once on every state-changing command Slack delivers twice', async () => {
    const declared = await slashCommand(bot, 'declare P3 Replayed commands');
    const replayed = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    const commands = [
      [`note ${replayed} Looking at the dashboards`, 'trigger-note-dup'],
      [`severity ${replayed} P2`, 'trigger-severity-dup'],
      [`assign ${replayed} scribe <@U0CAROL>`, 'trigger-assign-dup'],
      [`postmortem ${replayed}`, 'trigger-postmortem-dup'],
    ] as const;
    for (const [command, trigger] of commands)
      expect((await slashCommand(bot, command, { trigger })).text, command).not.toMatch(/already handled/);
    // Changed since: a replay of the older command must not undo it.
    await slashCommand(bot, `severity ${replayed} P1`);
    await slashCommand(bot, `assign ${replayed} scribe <@U0BOB>`);
    const entries = async () =>
      (
        await bot.app.pool.query('SELECT kind FROM timeline_entries WHERE incident_id = $1 ORDER BY id', [
          Number(replayed.slice(4)),
        ])
      ).rows.map((r) => r.kind);
    // The post-mortem is written by a queued job; wait for it so the snapshot is settled.
    await waitFor(
      async () => (await entries()).includes('postmortem_generated'),
      20_000,
      'post-mortem written',
    );
    const before = await entries();
    for (const [command, trigger] of commands)
      expect((await slashCommand(bot, command, { trigger })).text, command).toMatch(/already handled/);
    expect(await entries()).toEqual(before);
  });

  it('gives back the claim of a /incident postmortem that could not be queued, so trying again works', async () => {
    const declared = await slashCommand(bot, 'declare P4 Post-mortem while Redis is away');
    const incident = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    // Only the post-mortem's job fails: a reminder the worker reschedules meanwhile is added as usual.
    const realAdd = bot.app.tasks.add.bind(bot.app.tasks);
    const add = vi.spyOn(bot.app.tasks, 'add');
    let failed = false;
    add.mockImplementation((name, ...rest) => {
      if (name !== 'postmortem' || failed) return realAdd(name, ...rest);
      failed = true;
      return Promise.reject(new Error('Redis is away'));
    });
    const postmortem = () => slashCommand(bot, `postmortem ${incident}`, { trigger: 'trigger-postmortem-q' });
    try {
      expect((await postmortem()).text).toMatch(/went wrong on our side/);
      expect((await postmortem()).text).toMatch(/^Writing the post-mortem skeleton/);
      expect((await postmortem()).text).toMatch(/already handled/);
    } finally {
      add.mockRestore();
    }
  });

  it('resolves with a resolution notification, and refuses to resolve twice', async () => {
    const answer = await slashCommand(
      bot,
      `resolve ${ref} Raised the pool size and added an alert on saturation`,
    );
    expect(answer.text).toMatch(new RegExp(`^Resolved ${ref}\\.`));
    await waitFor(() => threadText().includes('Resolved by <@U0ALICE>'), 20_000, 'resolution in thread');
    expect(threadText()).toContain('Raised the pool size and added an alert on saturation');
    await waitFor(() => text(rootOf().blocks).includes('✅ Resolved'), 20_000, 'root resolved');
    expect(text(rootOf().blocks)).not.toContain('incident_resolve"');
    const again = await slashCommand(bot, `resolve ${ref} again`);
    expect(again.text).toMatch(
      new RegExp(`${ref} is already resolved\\.[\\s\\S]*Usage: \`/incident resolve`),
    );
    // Postgres holds the whole story once, in order.
    const { rows } = await bot.app.pool.query(
      'SELECT kind FROM timeline_entries WHERE incident_id = $1 ORDER BY id',
      [id],
    );
    expect(rows.map((r) => r.kind)).toEqual([
      'incident_declared',
      'status_update',
      'status_update',
      'severity_changed',
      'role_assigned',
      'role_assigned',
      'note',
      'incident_resolved',
    ]);
    const incidents = await bot.app.pool.query(
      'SELECT state, status, update_count, severity FROM incidents WHERE id = $1',
      [id],
    );
    expect(incidents.rows).toEqual([
      { state: 'resolved', status: 'resolved', update_count: 2, severity: 'P0' },
    ]);
  });

  it('answers the root message buttons like the commands', async () => {
    const declared = await slashCommand(bot, 'declare P2 Search results are stale');
    const other = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    const otherId = other.slice(4);
    expect(await clickOn(bot, 'incident', otherId, 'incident_resolve')).toBe(200);
    const view = await waitFor(
      () => {
        const call = bot.slack.emulator.callsOf('views.open').at(-1);
        const v = call?.params.view as { callback_id: string; private_metadata: string } | undefined;
        return v?.callback_id === 'incident_resolve' && v.private_metadata === otherId ? v : undefined;
      },
      20_000,
      'resolve form',
    );
    const viewId = 'VRESOLVE0001';
    expect((await submitView(bot, { ...view, id: viewId }, { resolution: 'Reindexed' })).body).toEqual({});
    // A double submission of the same form changes nothing twice.
    expect((await submitView(bot, { ...view, id: viewId }, { resolution: 'Reindexed' })).body).toEqual({});
    const { rows } = await bot.app.pool.query('SELECT state, resolution FROM incidents WHERE id = $1', [
      Number(otherId),
    ]);
    expect(rows).toEqual([{ state: 'resolved', resolution: 'Reindexed' }]);

    const ephemeralBefore = bot.slack.emulator.callsOf('chat.postEphemeral').length;
    expect(await clickOn(bot, 'incident', otherId, 'incident_post_update', { user: SRE.bob })).toBe(200);
    await waitFor(
      () => bot.slack.emulator.callsOf('chat.postEphemeral').length > ephemeralBefore,
      20_000,
      'refusal',
    );
    const refusal = bot.slack.emulator.callsOf('chat.postEphemeral').at(-1)!;
    expect(refusal.params).toMatchObject({ user: SRE.bob, channel: INCIDENT_CHANNEL });
    expect(String(refusal.params.text)).toContain(`${other} is already resolved.`);

    expect(await clickButton(bot, 'incident_post_update', 'not-a-number')).toBe(200);
    await waitFor(
      () =>
        String(bot.slack.emulator.callsOf('chat.postEphemeral').at(-1)?.params.text).includes(
          'does not name an incident',
        ),
      20_000,
      'bad value refusal',
    );
  });

  it('takes a root message button only from the root message of the incident it names', async () => {
    const declared = await slashCommand(bot, 'declare P3 Buttons from elsewhere');
    const other = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    const otherId = other.slice(4);
    const root = await messageOf(bot, 'incident', otherId);
    const opened = bot.slack.emulator.callsOf('views.open').length;
    const elsewhere = [
      { channel: 'C0ELSEWHERE', messageTs: root.messageTs },
      { channel: root.channel, messageTs: '1.000001' },
    ];
    for (const actionId of ['incident_post_update', 'incident_resolve', 'incident_postmortem'])
      for (const where of elsewhere) {
        const told = bot.slack.emulator.callsOf('chat.postEphemeral').length;
        expect(await clickButton(bot, actionId, otherId, { user: SRE.bob, ...where })).toBe(200);
        const refusal = await waitFor(
          () => bot.slack.emulator.callsOf('chat.postEphemeral').slice(told)[0],
          20_000,
          `${actionId} refused`,
        );
        expect(refusal.params).toMatchObject({ user: SRE.bob, channel: where.channel });
        expect(String(refusal.params.text), actionId).toContain(`does not come from ${other}'s own message`);
      }
    expect(bot.slack.emulator.callsOf('views.open')).toHaveLength(opened);
    await waitForQueueIdle(bot.app.tasks, 20_000, ['update-reminder', 'commander-reminder']);
    expect(bot.slack.emulator.files().filter((f) => f.threadTs === root.messageTs)).toEqual([]);

    expect(await clickOn(bot, 'incident', otherId, 'incident_post_update', { user: SRE.bob })).toBe(200);
    await waitFor(() => bot.slack.emulator.callsOf('views.open').length > opened, 20_000, 'update form');
  });

  it('takes a click that comes before the bot has recorded the root message it is on', async () => {
    const declared = await slashCommand(bot, 'declare P3 Clicked at once');
    const id = Number(/Declared INC-(\d+)/.exec(declared.text)![1]);
    const root = await messageOf(bot, 'incident', id);
    await waitForQueueIdle(bot.app.slackSync, 20_000);
    // As between Slack's answer to the post and the transaction that records it: the intent still there.
    await bot.app.pool.query('UPDATE incidents SET root_ts = NULL WHERE id = $1', [id]);
    await bot.app.pool.query(
      `INSERT INTO slack_post_intents (event_type, subject_id, nonce, channel_id, version)
       VALUES ('incident_root', $1, gen_random_uuid(), $2, 1)`,
      [id, root.channel],
    );
    const opened = bot.slack.emulator.callsOf('views.open').length;
    const told = bot.slack.emulator.callsOf('chat.postEphemeral').length;
    expect(await clickButton(bot, 'incident_post_update', String(id), { user: SRE.bob, ...root })).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const client = await bot.app.pool.connect();
    try {
      await client.query('BEGIN');
      await client.query('UPDATE incidents SET root_ts = $2 WHERE id = $1', [id, root.messageTs]);
      await client.query(
        "DELETE FROM slack_post_intents WHERE event_type = 'incident_root' AND subject_id = $1",
        [id],
      );
      await client.query('COMMIT');
    } finally {
      client.release();
    }
    await waitFor(() => bot.slack.emulator.callsOf('views.open').length > opened, 20_000, 'update form');
    expect(bot.slack.emulator.callsOf('chat.postEphemeral').slice(told)).toEqual([]);
  });

  it('runs alert-born incidents with the same commands', async () => {
    const delivered = await bot.deliver(
      payload({ group: 'CommandedAlerts', alerts: [{ instance: 'pod-1' }] }),
    );
    const alertRef = ((await delivered.json()) as { incident: string }).incident;
    await waitFor(
      () => bot.slack.emulator.channelMessages('C0PAYMENTS').some((m) => text(m.blocks).includes(alertRef)),
      20_000,
      'alert root',
    );
    expect((await slashCommand(bot, `assign ${alertRef} commander <@U0CAROL>`)).text).toBe(
      `<@U0CAROL> is now commander of ${alertRef}.`,
    );
    await waitFor(
      () =>
        bot.slack.emulator
          .channelMessages('C0PAYMENTS')
          .some((m) => text(m.blocks).includes(alertRef) && text(m.blocks).includes('<@U0CAROL>')),
      20_000,
      'commander on alert root',
    );
  });
});
