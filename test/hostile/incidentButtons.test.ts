import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { INCIDENT_CHANNEL } from '../support/slackRequests.js';
import type { TestBot } from '../support/testBot.js';
import {
  BAD_ID_VALUES,
  batches,
  clickInput,
  clickProbe,
  declareIncident,
  expectAlive,
  forgedOrigins,
  Hostile,
  hostileWord,
  LIVE_MARKUP,
  type PostedMessage,
  PROTO_NAMES,
  SERVICES_CONFIG,
  samples,
  told,
} from './support.js';

// The root message's buttons: each names its incident by id.
const INCIDENT_BUTTONS = [
  'incident_acknowledge',
  'incident_post_update',
  'incident_resolve',
  'incident_postmortem',
  'incident_silence',
  'incident_extend_silence',
  'incident_unsilence',
] as const;
// The root message's health check button: names a service, not the incident.
const HEALTH_BUTTON = 'incident_health_check';
/** Users Slack would never send: the envelope refuses them. */
const BAD_USERS = ['U0\u0000X', '', 'u0lower', '__proto__', '<!here>', `U${'0'.repeat(100)}`];

describe('hostile input: the incident buttons', () => {
  let bot: TestBot;
  let hostile: Hostile;
  let incident: PostedMessage;
  beforeAll(async () => {
    hostile = await Hostile.start('incident buttons', {
      configYaml: SERVICES_CONFIG,
      setUp: async (b) => {
        incident = await declareIncident(b, INCIDENT_CHANNEL);
      },
    });
    bot = hostile.bot;
  });
  afterAll(() => hostile?.stop());

  it.each(INCIDENT_BUTTONS)(
    '%s: refuses values that name no incident, writing and opening nothing',
    async (button) => {
      const inputs = [
        ...BAD_ID_VALUES.map((value) => clickInput(bot, button, value)),
        clickInput(bot, button, undefined, { label: 'no value' }),
        clickInput(bot, button, '1'.repeat(2001), { label: 'a value of 2001 characters', status: 400 }),
      ];
      await hostile.probeAll(inputs.map((input) => ({ ...input, check: told })));
    },
  );

  it.each([...INCIDENT_BUTTONS, HEALTH_BUTTON])(
    '%s: refuses a click on a real incident that does not come from its message',
    async (button) => {
      const value = button === HEALTH_BUTTON ? 'payments-api' : String(incident.id);
      await hostile.probeAll(
        forgedOrigins(incident).map(([label, options]) =>
          // A click from nowhere has no channel to be told in.
          clickInput(bot, button, value, {
            ...options,
            label,
            ...(options.channel === null ? {} : { check: told }),
          }),
        ),
      );
    },
  );

  it.each(INCIDENT_BUTTONS)(
    '%s: refuses clicks by a user whose id Slack would never send',
    async (button) => {
      await hostile.probeAll(
        BAD_USERS.map((user) =>
          clickInput(bot, button, String(incident.id), {
            channel: incident.channel,
            messageTs: incident.ts,
            user,
            label: `user ${JSON.stringify(user)}`,
            status: 400,
          }),
        ),
      );
    },
  );

  it(`${HEALTH_BUTTON}: refuses services that are not configured, names of object keys above all`, async () => {
    // `constructor` was found on every object, and its "checks" posted in the channel.
    const values = [
      ...PROTO_NAMES,
      '',
      'nowhere',
      'PAYMENTS-API',
      ' payments-api',
      'payments-api ',
      'payments-api\u0000',
      '\ud800',
      ...LIVE_MARKUP,
      'x'.repeat(2000),
    ];
    await hostile.probeAll([
      ...values.map((value) =>
        clickInput(bot, HEALTH_BUTTON, value, { channel: incident.channel, messageTs: incident.ts }),
      ),
      clickInput(bot, HEALTH_BUTTON, undefined, { label: 'no value' }),
      ...BAD_USERS.map((user) =>
        clickInput(bot, HEALTH_BUTTON, 'payments-api', {
          user,
          label: `user ${JSON.stringify(user)}`,
          status: 400,
        }),
      ),
    ]);
  });

  it('refuses generated clicks, whatever the value and wherever they come from', async () => {
    const value = fc.oneof(
      hostileWord,
      fc.integer().map(String),
      fc.bigInt().map(String),
      fc.string({ unit: 'binary', maxLength: 30 }),
    );
    const generated = samples(
      fc.record({
        button: fc.constantFrom(...INCIDENT_BUTTONS, HEALTH_BUTTON),
        value: value.filter((v) => v !== 'payments-api' && v !== String(incident.id)),
        origin: fc.nat(forgedOrigins(incident).length),
      }),
      160,
    );
    for (const batch of batches(generated))
      await hostile.probeAll(
        batch.map(({ button, value: v, origin }) => {
          const [where, options] = forgedOrigins(incident)[origin] ?? [
            'from the incident message',
            { channel: incident.channel, messageTs: incident.ts },
          ];
          return clickInput(bot, button, v, {
            ...options,
            generated: true,
            label: `${button} ${JSON.stringify(v).slice(0, 200)} ${where}`,
          });
        }),
      );
  });

  it('wrote nothing, posted nothing, opened no form, and still answers /healthz', async () => {
    await hostile.expectNothingWrittenSinceBegin();
    await expectAlive(bot);
  });

  // The refusals above mean something only if the same click from the root message is taken.
  it('takes the same click from the incident message: the form opens', async () => {
    const answer = await clickProbe(hostile, 'incident_post_update', String(incident.id), {
      channel: incident.channel,
      messageTs: incident.ts,
      outcome: 'accepted',
      label: 'from the root message',
    });
    expect(answer.posted.map((c) => c.method)).toEqual(['views.open']);
  });

  it('takes a health check click from the incident message: the results go to its thread', async () => {
    const answer = await clickProbe(hostile, HEALTH_BUTTON, 'payments-api', {
      channel: incident.channel,
      messageTs: incident.ts,
      outcome: 'accepted',
      label: 'from the root message',
    });
    expect(answer.posted).toMatchObject([
      { method: 'chat.postMessage', params: { channel: incident.channel, thread_ts: incident.ts } },
    ]);
  });
});
