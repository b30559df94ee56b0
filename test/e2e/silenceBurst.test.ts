import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { payload } from '../support/alertmanager.js';
import { serveAlertmanagerStandIn } from '../support/alertmanagerServer.js';
import { waitFor } from '../support/services.js';
import { submitView } from '../support/slackRequests.js';
import { DEFAULT_TEST_CONFIG, jsonOf, startTestBot, type TestBot } from '../support/testBot.js';

/**
 * Many Silence forms submitted at once while Alertmanager answers slowly: each silence holds one of the
 * few clients of the silences' pool while Alertmanager answers, and the rest wait their turn.
 */

const FORMS = 20;
/** How long the stand-in takes over each answer: a silence asks twice (its list, then the new one). */
const ALERTMANAGER_DELAY_MS = 400;

describe('a burst of Silence forms against a slow Alertmanager', () => {
  let alertmanager: { url: string; server: Server };
  let bot: TestBot;
  beforeAll(async () => {
    alertmanager = await serveAlertmanagerStandIn(ALERTMANAGER_DELAY_MS);
    bot = await startTestBot({
      worker: false,
      configYaml: `${DEFAULT_TEST_CONFIG}alertmanager:\n  urls: ['${alertmanager.url}']\n`,
    });
  }, 60_000);
  afterAll(async () => {
    await bot?.stop();
    alertmanager?.server.close();
  });

  it('silences every incident: the forms behind the pool wait their turn, not told the database is down', async () => {
    const ids: number[] = [];
    for (let i = 0; i < FORMS; i++) {
      // Retried: the webhook answers 503 until the bot's queue connection is ready.
      const ref = await waitFor(
        async () =>
          (await jsonOf(await bot.deliver(payload({ group: `Burst${i}`, alerts: [{ instance: 'pay-1' }] }))))
            .incident,
        10_000,
        `incident ${i}`,
      );
      ids.push(Number(ref.slice(4)));
    }
    const user = (i: number) => `U0SRE${String(i).padStart(4, '0')}`;
    const answers = await Promise.all(
      ids.map((id, i) =>
        submitView(
          bot,
          { callback_id: 'incident_silence', private_metadata: String(id) },
          { duration: { selected: '1h' }, reason: 'known noise', matchers: `alertname="Burst${i}"` },
          user(i),
        ),
      ),
    );
    // Each form closes at once: the silence is set after it, and the person told in the channel.
    expect(answers).toEqual(ids.map(() => ({ status: 200, body: {} })));
    const told = await waitFor(
      () => {
        const texts = ids.map(
          (_, i) =>
            bot.slack.emulator.callsOf('chat.postEphemeral').find((c) => c.params.user === user(i))?.params
              .text,
        );
        return texts.every((t) => t !== undefined) ? texts.map(String) : undefined;
      },
      30_000,
      'every person to be told how their silence went',
    );
    // Once, the forms beyond the pool's clients waited 1 s and were told the database was not answering.
    for (const text of told) expect(text).toMatch(/^🔕 Silenced INC-\d+'s alerts in Alertmanager until/);
    const { rows } = await bot.app.pool.query(
      "SELECT count(*)::int AS n FROM incident_silences WHERE state = 'live'",
    );
    expect(rows[0].n).toBe(FORMS);
  });
});
