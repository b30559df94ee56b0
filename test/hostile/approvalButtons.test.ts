import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../support/services.js';
import { SRE } from '../support/slackRequests.js';
import type { TestBot } from '../support/testBot.js';
import {
  BAD_ID_VALUES,
  batches,
  clickInput,
  clickProbe,
  expectAlive,
  forgedOrigins,
  Hostile,
  hostileWord,
  type PostedMessage,
  requestAction,
  SERVICES_CONFIG,
  samples,
  told,
} from './support.js';

const BUTTONS = ['action_approve', 'action_reject'] as const;
const CHANNEL = 'C0APPROVALS';
// SERVICES_CONFIG: `restart` is approved by bob alone; alice requests it.
const APPROVER = SRE.bob;

describe('hostile input: Approve and Reject', () => {
  let bot: TestBot;
  let hostile: Hostile;
  let request: PostedMessage;
  beforeAll(async () => {
    hostile = await Hostile.start('approval buttons', {
      configYaml: SERVICES_CONFIG,
      setUp: async (b) => {
        request = await requestAction(b, 'restart payments-api', CHANNEL);
      },
    });
    bot = hostile.bot;
  });
  afterAll(() => hostile?.stop());

  const statusOf = async () =>
    (await bot.app.pool.query('SELECT status FROM action_requests WHERE id = $1', [request.id])).rows[0]
      ?.status;

  it.each(BUTTONS)('%s: refuses values that name no request, voting for nothing', async (button) => {
    const inputs = [
      ...BAD_ID_VALUES.map((value) =>
        clickInput(bot, button, value, { channel: request.channel, messageTs: request.ts }),
      ),
      clickInput(bot, button, undefined, { label: 'no value' }),
      clickInput(bot, button, '1'.repeat(2001), { label: 'a value of 2001 characters', status: 400 }),
    ];
    await hostile.probeAll(inputs.map((input) => ({ ...input, check: told })));
  });

  it.each(BUTTONS)(
    '%s by an approver does not count unless it comes from the approval message',
    async (button) => {
      const inputs = forgedOrigins(request).map(([label, options]) =>
        clickInput(bot, button, String(request.id), {
          ...options,
          user: APPROVER,
          label: `${label}, by the approver`,
          // A click from nowhere has no channel to be told in.
          ...(options.channel === null ? {} : { check: told }),
        }),
      );
      // One at a time: they are all the approver's, and the first that counted would decide the request.
      for (const input of inputs) await hostile.probe(input);
      expect(await statusOf()).toBe('pending');
    },
  );

  it.each(BUTTONS)(
    '%s: refuses the requester, outsiders and user ids Slack would never send',
    async (button) => {
      const here = { channel: request.channel, messageTs: request.ts };
      const inputs = [
        clickInput(bot, button, String(request.id), {
          ...here,
          user: SRE.alice,
          label: 'the requester, on their own request',
        }),
        clickInput(bot, button, String(request.id), { ...here, label: 'someone who is no approver' }),
        ...['U0\u0000X', '', 'u0bob', `${APPROVER}\u0000`, '__proto__', '<!here>'].map((user) =>
          clickInput(bot, button, String(request.id), {
            ...here,
            user,
            label: `user ${JSON.stringify(user)}`,
            status: 400,
          }),
        ),
      ];
      await hostile.probeAll(inputs.map((input) => ({ ...input, check: told })));
      expect(await statusOf()).toBe('pending');
    },
  );

  it('refuses generated clicks: any value, anyone, from anywhere', async () => {
    const value = fc.oneof(
      hostileWord,
      fc.integer().map(String),
      fc.bigInt().map(String),
      fc.string({ unit: 'binary', maxLength: 30 }),
    );
    const generated = samples(
      fc.record({
        button: fc.constantFrom(...BUTTONS),
        value: value.filter((v) => v !== String(request.id)),
        forgery: fc.nat(forgedOrigins(request).length - 1),
      }),
      160,
    );
    for (const batch of batches(generated))
      await hostile.probeAll(
        batch.map(({ button, value: v, forgery }) => {
          const [where, options] = forgedOrigins(request)[forgery]!;
          return clickInput(bot, button, v, {
            ...options,
            generated: true,
            label: `${button} ${JSON.stringify(v).slice(0, 200)} ${where}`,
          });
        }),
      );
    // The approver's own forged clicks on the real request, one at a time for the same reason as above.
    for (const { button, forgery } of samples(
      fc.record({ button: fc.constantFrom(...BUTTONS), forgery: fc.nat(forgedOrigins(request).length - 1) }),
      12,
    )) {
      const [where, options] = forgedOrigins(request)[forgery]!;
      await hostile.probe(
        clickInput(bot, button, String(request.id), {
          ...options,
          user: APPROVER,
          generated: true,
          label: `${button} by the approver ${where}`,
        }),
      );
    }
    expect(await statusOf()).toBe('pending');
  });

  it('recorded no vote, ran nothing, posted nothing, and still answers /healthz', async () => {
    await hostile.expectNothingWrittenSinceBegin();
    await expectAlive(bot);
  });

  // The refusals above mean something only if the same click from the approval message counts.
  it("counts the approver's click from the approval message", async () => {
    await clickProbe(hostile, 'action_approve', String(request.id), {
      channel: request.channel,
      messageTs: request.ts,
      user: APPROVER,
      outcome: 'accepted',
      label: 'from the approval message',
    });
    await waitFor(async () => (await statusOf()) === 'succeeded', 20_000, 'the approved action to run');
  });
});
