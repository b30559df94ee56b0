import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { TestBot } from '../support/testBot.js';
import {
  escapeSlack,
  expectAlive,
  fuzz,
  Hostile,
  hostileText,
  LIVE_MARKUP,
  PROTO_NAMES,
  replyText,
  SERVICE_NAMES,
  SERVICES_CONFIG,
  slashProbe,
  unescapeSlack,
} from './support.js';

const COMMAND = '/health';

describe('hostile input: /health', () => {
  let bot: TestBot;
  let hostile: Hostile;
  beforeAll(async () => {
    hostile = await Hostile.start('/health', { configYaml: SERVICES_CONFIG });
    bot = hostile.bot;
  });
  afterAll(() => hostile?.stop());

  const refused = (text: string, label?: string) => hostile.refusedCommand(COMMAND)(text, label);

  it('refuses unknown services, names of object keys and markup, with usage and no health check run', async () => {
    // `constructor` used to be found on every object, and its "checks" posted in the channel.
    for (const name of PROTO_NAMES) await refused(name);
    for (const text of [
      'nowhere',
      'PAYMENTS-API',
      '"payments-api"',
      'payments-api extra',
      'payments-api payments-api',
      '--force',
      '-n=1',
      'payments-api --force',
      'payments-api\u0000',
      'a\u0000b',
      '\u0000',
    ])
      await refused(text);
    for (const markup of LIVE_MARKUP) {
      await refused(markup);
      await refused(escapeSlack(markup));
      await refused(`payments-api ${markup}`);
    }
    await refused('x'.repeat(100_000), 'a service name of 100 KB');
    await refused(`payments-api ${'x '.repeat(50_000)}`, '100 KB of words');
  });

  it('refuses generated text with usage, running nothing and echoing nothing live', async () => {
    const service = (text: string) => unescapeSlack(text).trim();
    await fc.assert(
      fc.asyncProperty(
        // Blank text checks every service, and a service's own name checks it: neither is hostile.
        hostileText(5).filter(
          (t) => /\S/.test(unescapeSlack(t)) && !(SERVICE_NAMES as readonly string[]).includes(service(t)),
        ),
        async (text) => {
          const answer = await slashProbe(hostile, COMMAND, text, { generated: true });
          expect(replyText(answer)).toMatch(/Usage:/);
        },
      ),
      fuzz(120),
    );
  });

  it('wrote nothing, posted nothing, and still answers /healthz', async () => {
    await hostile.expectNothingWrittenSinceBegin();
    await expectAlive(bot);
  });

  it('runs a replayed /health (same trigger_id) once: the replay posts nothing', async () => {
    const options = { trigger: `replay-${Date.now()}`, channel: 'C0REPLAY' };
    const first = await slashProbe(hostile, COMMAND, 'payments-api', { ...options, outcome: 'accepted' });
    expect(replyText(first)).toMatch(/Running the health checks/);
    expect(first.posted.map((c) => c.method)).toContain('chat.postMessage');
    const replay = await slashProbe(hostile, COMMAND, 'payments-api', {
      ...options,
      label: 'the same check again',
    });
    expect(replyText(replay)).not.toMatch(/Running the health checks/);
    await expectAlive(bot);
  });
});
