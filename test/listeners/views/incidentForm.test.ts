import type { Middleware, SlackViewMiddlewareArgs } from '@slack/bolt';
import { describe, expect, it, vi } from 'vitest';
import type { ListenerDeps } from '../../../src/listeners/deps.js';
import type { Listeners } from '../../../src/listeners/router.js';
import { registerIncidentForm } from '../../../src/listeners/views/incidentForm.js';
import { createLogger } from '../../../src/observability/logger.js';

/** A form about incident 7 as Bolt would call its listener, with `ack` as given. */
async function submit(form: Parameters<typeof registerIncidentForm<string>>[2], ack: () => Promise<void>) {
  let listener: Middleware<SlackViewMiddlewareArgs> | undefined;
  const listeners = {
    view: (_id: string, registered: Middleware<SlackViewMiddlewareArgs>) => {
      listener = registered;
    },
  } as unknown as Listeners;
  const lines: string[] = [];
  const logger = createLogger('warn', [], { write: (line: string) => lines.push(line) });
  registerIncidentForm(listeners, { logger } as unknown as ListenerDeps, form);
  await listener!({
    ack,
    view: { id: 'V1', private_metadata: '7', state: { values: {} } },
    body: { user: { id: 'U0ALICE' } },
  } as unknown as Parameters<Middleware<SlackViewMiddlewareArgs>>[0]);
  return lines;
}

describe('a form about an incident', () => {
  it('does what follows its acknowledgement even when the acknowledgement did not reach Slack', async () => {
    const act = vi.fn(async () => {});
    const afterAck = vi.fn(async () => undefined);
    const lines = await submit(
      {
        callbackId: 'f',
        read: () => ({ ok: true, input: 'input' }),
        errorField: 'reason',
        usage: () => '',
        act,
        afterAck,
      },
      // As a Socket Mode acknowledgement fails when Slack recycled the socket meanwhile.
      async () => {
        throw new Error('SMSendWhileNotReadyError');
      },
    );
    expect(act).toHaveBeenCalledOnce();
    expect(afterAck).toHaveBeenCalledWith(7, 'input', 'U0ALICE', 'view:V1');
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual([
      "a form's acknowledgement did not reach Slack; what it asked is done",
    ]);
  });
});
