import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type AlertSpec, payload } from '../support/alertmanager.js';
import { waitFor, waitForQueueIdle } from '../support/services.js';
import { clickOn, INCIDENT_CHANNEL, lastEphemeralTo, SRE, slashCommand } from '../support/slackRequests.js';
import { jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

/** Acknowledging an alert-born incident: the button and /incident ack, what the root and thread show. */

const CHANNEL = 'C0PAYMENTS';
const text = (value: unknown) => JSON.stringify(value);

describe('acknowledging an incident', () => {
  let bot: TestBot;
  beforeAll(async () => {
    bot = await startTestBot();
  });
  afterAll(async () => {
    await bot?.stop();
  });

  const open = async (group: string, alerts: AlertSpec[] = [{ instance: 'pod-1' }]) => {
    const res = await bot.deliver(payload({ group, alerts }));
    const answer = await jsonOf(res);
    const ref = answer.incident as string;
    const id = Number(ref.slice(4));
    await waitFor(() => root(id), 20_000, 'root message');
    return { ref, id, outcome: answer.outcome };
  };
  const rootTsOf = async (id: number) =>
    (await bot.app.pool.query('SELECT root_ts FROM incidents WHERE id = $1', [id])).rows[0]?.root_ts;
  const root = async (id: number) => {
    const ts = await rootTsOf(id);
    return bot.slack.emulator.channelMessages(CHANNEL).find((m) => m.ts === ts);
  };
  const rootText = async (id: number) => text((await root(id))?.blocks);
  const threadText = async (id: number) =>
    text(bot.slack.emulator.threadOf(CHANNEL, await rootTsOf(id)).map((m) => m.blocks));
  const acknowledgement = async (id: number) =>
    (
      await bot.app.pool.query(
        `SELECT acknowledged_by AS by, (SELECT count(*)::int FROM timeline_entries t
                 WHERE t.incident_id = i.id AND t.kind = 'incident_acknowledged') AS entries
           FROM incidents i WHERE id = $1`,
        [id],
      )
    ).rows[0];
  /** How many acknowledgements incident_bot_time_to_acknowledge_seconds counted, every severity. */
  const acks = async () => {
    const metric = await bot.app.metrics.registry.getSingleMetricAsString(
      'incident_bot_time_to_acknowledge_seconds',
    );
    return [...metric.matchAll(/_count\{[^}]*\} (\d+)/g)].reduce((n, m) => n + Number(m[1]), 0);
  };

  it('takes the Acknowledge button: 👀 with the name on the root, the thread told, the time measured', async () => {
    const { ref, id } = await open('AckByButton');
    expect(await rootText(id)).toContain('incident_acknowledge');
    expect(await rootText(id)).toContain('Not acknowledged');

    expect(await clickOn(bot, 'incident', id, 'incident_acknowledge', { user: SRE.bob })).toBe(200);
    await waitFor(async () => (await rootText(id)).includes('👀 Acknowledged by <@U0BOB>'), 20_000, '👀');
    expect(await rootText(id)).not.toContain('incident_acknowledge');
    expect(await rootText(id)).not.toContain('Not acknowledged');
    await waitFor(
      async () => (await threadText(id)).includes('<@U0BOB> acknowledged it after'),
      20_000,
      'thread',
    );
    expect(lastEphemeralTo(bot, SRE.bob)).toBe(
      `You acknowledged ${ref}: it is yours, and nobody else is called for it.`,
    );
    expect(await acks()).toBe(1);

    // Twice: told who has it, nothing written.
    expect((await slashCommand(bot, `ack ${ref}`, { user: SRE.alice })).text).toMatch(
      new RegExp(`^<@U0BOB> acknowledged ${ref} already, <!date\\^`),
    );
    expect((await slashCommand(bot, `ack ${ref}`, { user: SRE.bob })).text).toMatch(
      new RegExp(`^You acknowledged ${ref} already`),
    );
    expect(await acknowledgement(id)).toEqual({ by: SRE.bob, entries: 1 });
    expect(await acks()).toBe(1);
  });

  it('takes /incident ack, and a reopened incident needs acknowledging again', async () => {
    const { ref, id } = await open('AckByCommand');
    const answer = await slashCommand(bot, `ack ${ref.toLowerCase()}`, { user: SRE.carol });
    expect(answer.text).toBe(`You acknowledged ${ref}: it is yours, and nobody else is called for it.`);
    await waitFor(async () => (await rootText(id)).includes('👀 Acknowledged by <@U0CAROL>'), 20_000, '👀');

    await bot.deliver(
      payload({ group: 'AckByCommand', alerts: [{ instance: 'pod-1', status: 'resolved' }] }),
    );
    const again = await bot.deliver(
      payload({ group: 'AckByCommand', alerts: [{ instance: 'pod-1', startsAt: '2026-11-23T10:00:00Z' }] }),
    );
    expect(await jsonOf(again)).toEqual({ outcome: 'reopened', incident: ref });
    await waitFor(async () => (await rootText(id)).includes('Reopened, 2nd time'), 20_000, 'reopened root');
    expect(await rootText(id)).toContain('incident_acknowledge');
    expect(await rootText(id)).not.toContain('👀 Acknowledged');
    expect((await acknowledgement(id)).by).toBeNull();
    expect((await slashCommand(bot, `ack ${ref}`, { user: SRE.bob })).text).toMatch(/^You acknowledged/);
    expect(await acknowledgement(id)).toEqual({ by: SRE.bob, entries: 2 });
  });

  it('offers nothing to acknowledge on a declared incident, and leaves it out of the time to acknowledge', async () => {
    const declared = await slashCommand(bot, 'declare P1 Checkout slow for some', { user: SRE.alice });
    const ref = /Declared (INC-\d+)/.exec(declared.text)![1]!;
    const id = Number(ref.slice(4));
    const declaredRoot = await waitFor(
      () =>
        bot.slack.emulator.channelMessages(INCIDENT_CHANNEL).find((m) => text(m.blocks).includes(`${ref} ·`)),
      20_000,
      'declared root',
    );
    const before = await acks();
    expect(text(declaredRoot.blocks)).not.toContain('incident_acknowledge');
    expect(text(declaredRoot.blocks)).not.toContain('acknowledged');
    const answer = await slashCommand(bot, `ack ${ref}`, { user: SRE.bob });
    expect(answer.text).toContain(
      `${ref} was declared by <@U0ALICE>: a declared incident has its owner from the start`,
    );
    expect(await acknowledgement(id)).toEqual({ by: null, entries: 0 });
    expect(await acks()).toBe(before);
  });

  it('answers bad input with usage and writes nothing', async () => {
    const { ref, id } = await open('AckBadInput');
    const usage = 'Usage: `/incident ack [INC-n]';
    for (const typed of [`ack ${ref} now please`, 'ack INC-x', 'ack <@U0BOB>']) {
      const answer = await slashCommand(bot, typed, { user: SRE.bob });
      expect(answer.text, typed).toContain('Nothing but an incident id is expected.');
      expect(answer.text, typed).toContain(usage);
    }
    // Outside an incident channel, with no incident named.
    const nowhere = await slashCommand(bot, 'ack', { user: SRE.bob });
    expect(nowhere.text).toContain('This channel is not an incident channel');
    expect(nowhere.text).toContain(usage);
    expect((await slashCommand(bot, 'ack INC-999999', { user: SRE.bob })).text).toContain(
      'There is no incident INC-999999.',
    );
    await waitForQueueIdle(bot.app.slackSync);
    expect(await acknowledgement(id)).toEqual({ by: null, entries: 0 });
    expect(await rootText(id)).toContain('incident_acknowledge');
  });
});
