import type { Middleware, SlackCommandMiddlewareArgs } from '@slack/bolt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { registerIncidentCommand } from '../../../src/listeners/commands/incident.js';
import type { ListenerDeps } from '../../../src/listeners/deps.js';
import type { Listeners } from '../../../src/listeners/router.js';

/** The /incident listener as Bolt would call it: `help` needs none of its dependencies. */
function incidentListener(): Middleware<SlackCommandMiddlewareArgs> {
  let registered: Middleware<SlackCommandMiddlewareArgs> | undefined;
  const listeners = {
    command: (_name: string, listener: Middleware<SlackCommandMiddlewareArgs>) => {
      registered = listener;
    },
  } as unknown as Listeners;
  registerIncidentCommand(listeners, {} as ListenerDeps);
  return registered!;
}

describe('/incident answered within its acknowledgement', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('leaves no timer behind for the acknowledgement it no longer needs', async () => {
    vi.useFakeTimers();
    const ack = vi.fn(async () => {});
    await incidentListener()({
      command: { command: '/incident', text: 'help', user_id: 'U1', channel_id: 'C1', trigger_id: 't.1' },
      ack,
      respond: vi.fn(),
    } as unknown as Parameters<Middleware<SlackCommandMiddlewareArgs>>[0]);
    expect(ack).toHaveBeenCalledOnce();
    expect(JSON.stringify(ack.mock.calls[0])).toContain('/incident list');
    // One a command: at 600 commands a second, 1,200 timers waiting for nothing.
    expect(vi.getTimerCount()).toBe(0);
  });
});
