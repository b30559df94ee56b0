import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AlertmanagerApi, type SilenceSpec } from '../../src/alertmanager/alertmanagerApi.js';
import { type SandboxBot, startSandboxBot, statusWithHost } from '../support/sandboxBot.js';
import { waitFor } from '../support/services.js';
import { alertmanagerRejection, silenceSpec } from '../support/silenceSpecs.js';

/** The sandbox's Alertmanager stand-in, through the client the bot uses for a real one. */

const HOUR = 3_600_000;

describe("the sandbox's Alertmanager stand-in", () => {
  let bot: SandboxBot;
  let api: AlertmanagerApi;
  beforeAll(async () => {
    bot = await startSandboxBot();
    api = new AlertmanagerApi([`${bot.url}/sandbox/alertmanager/`], undefined, 2_000);
  });
  afterAll(async () => {
    await bot?.stop();
  });

  it('is where the demo config sends silences, at the port the bot got', () => {
    expect(bot.config.file.alertmanager?.urls).toEqual([`${bot.url}/sandbox/alertmanager/`]);
  });

  it('creates a silence and answers it with its matchers, author, comment and state', async () => {
    const given = silenceSpec();
    const id = await api.postSilence(given);
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    const silence = await api.getSilence(id);
    expect(silence).toMatchObject({
      id,
      state: 'active',
      matchers: given.matchers,
      endsAt: given.endsAt,
      createdBy: 'U0ALICE',
      comment: given.comment,
    });
  });

  it('keeps the id of an update with the same matchers, and gives a new one otherwise', async () => {
    const first = silenceSpec();
    const id = await api.postSilence(first);
    const later = new Date(first.endsAt.getTime() + HOUR);
    expect(await api.postSilence({ ...first, endsAt: later }, id)).toBe(id);
    expect((await api.getSilence(id)).endsAt).toEqual(later);

    const narrower = { ...first, matchers: [{ name: 'service', value: 'payments-api' }] };
    const replacement = await api.postSilence(narrower, id);
    expect(replacement).not.toBe(id);
    expect((await api.getSilence(id)).state).toBe('expired');
    expect((await api.getSilence(replacement)).state).toBe('active');
  });

  it('expires a silence on DELETE, again without error, and does not know made-up ids', async () => {
    const id = await api.postSilence(silenceSpec());
    await api.expireSilence(id);
    expect((await api.getSilence(id)).state).toBe('expired');
    await api.expireSilence(id);
    // An expired silence is not updated in place: a new one takes its place.
    expect(await api.postSilence(silenceSpec(), id)).not.toBe(id);

    const unknown = '00000000-0000-4000-8000-000000000000';
    expect((await alertmanagerRejection(api.getSilence(unknown))).code).toBe('SILENCE_NOT_FOUND');
    expect((await alertmanagerRejection(api.expireSilence(unknown))).code).toBe('SILENCE_NOT_FOUND');
    expect((await alertmanagerRejection(api.postSilence(silenceSpec(), unknown))).code).toBe(
      'SILENCE_NOT_FOUND',
    );
  });

  it("refuses what Alertmanager refuses, with Alertmanager's reasons", async () => {
    const refused = async (given: SilenceSpec) => {
      const err = await alertmanagerRejection(api.postSilence(given));
      expect(err.code).toBe('ALERTMANAGER_REFUSED');
      return err.message;
    };
    expect(await refused(silenceSpec({ matchers: [] }))).toMatch(/HTTP 422.*matchers/);
    expect(await refused(silenceSpec({ matchers: [{ name: 'bad-name', value: 'x' }] }))).toContain(
      'invalid label name "bad-name"',
    );
    expect(await refused(silenceSpec({ matchers: [{ name: 'service', value: '' }] }))).toContain(
      'at least one matcher must not match the empty string',
    );
    const past = new Date(Date.now() - HOUR);
    expect(await refused(silenceSpec({ startsAt: new Date(past.getTime() - HOUR), endsAt: past }))).toContain(
      "end time can't be in the past",
    );
  });

  it("takes the README's silence of the demo alert, made and lifted from its root through the page's API", async () => {
    const post = (path: string, body: unknown) =>
      fetch(`${bot.url}/sandbox/api/${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    const state = async () =>
      (await (await fetch(`${bot.url}/sandbox/api/state?user=U0ALICE`)).json()) as {
        messages: Record<string, Array<{ ts: string; blocks: unknown[] }>>;
        modal?: { id: string; title: { text: string } };
      };
    const root = async () => (await state()).messages.C0PAYMENTS?.[0];
    const click = async (actionId: string) => {
      const message = (await root())!;
      const block = message.blocks.findIndex((b) => JSON.stringify(b).includes(`"${actionId}"`));
      return post('click', { user: 'U0ALICE', channel: 'C0PAYMENTS', ts: message.ts, block, actionId });
    };
    const silences = async () =>
      (await (await fetch(`${bot.url}/sandbox/alertmanager/api/v2/silences`)).json()) as Array<{
        status: { state: string };
        comment: string;
      }>;
    const before = (await silences()).length;

    await post('alert', { sample: 'payments-api-latency.firing' });
    await waitFor(
      async () => JSON.stringify((await root())?.blocks).includes('incident_silence'),
      20_000,
      'Silence',
    );
    expect((await click('incident_silence')).status).toBe(200);
    const form = await waitFor(async () => (await state()).modal, 20_000, 'the silence form');
    expect(form.title.text).toMatch(/^Silence INC-\d+$/);
    const submitted = await post('submit', {
      user: 'U0ALICE',
      view: form.id,
      values: {
        duration: '1h',
        custom_duration: null,
        reason: 'Deploying the fix',
        matchers: 'alertname="HighLatency"',
      },
    });
    expect(await submitted.json()).toEqual({});
    await waitFor(
      async () => JSON.stringify((await root())?.blocks).includes('🔕'),
      20_000,
      '🔕 on the root',
    );
    const made = (await silences()).slice(before);
    expect(made).toHaveLength(1);
    expect(made[0]).toMatchObject({
      status: { state: 'active' },
      comment: expect.stringContaining('Deploying the fix'),
    });

    expect((await click('incident_unsilence')).status).toBe(200);
    await waitFor(async () => !JSON.stringify((await root())?.blocks).includes('🔕'), 20_000, 'no 🔕');
    expect((await silences()).slice(before)[0]!.status.state).toBe('expired');
  });

  it('answers its status, and only to requests naming the bot by its address', async () => {
    const status = await fetch(`${bot.url}/sandbox/alertmanager/api/v2/status`);
    expect(status.status).toBe(200);
    expect(await status.json()).toMatchObject({ versionInfo: { version: 'sandbox' } });
    // It holds no alerts (the sandbox's senders post them to the bot), and serves nothing else.
    expect(await (await fetch(`${bot.url}/sandbox/alertmanager/api/v2/alerts?active=true`)).json()).toEqual(
      [],
    );
    expect((await fetch(`${bot.url}/sandbox/alertmanager/api/v2/receivers`)).status).toBe(404);
    const silences = `${bot.url}/sandbox/alertmanager/api/v2/silences`;
    expect(await statusWithHost(silences, 'evil.example')).toBe(403);
  });
});
