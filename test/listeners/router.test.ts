import { App, type Receiver } from '@slack/bolt';
import { describe, expect, it } from 'vitest';
import { ListenerRouter } from '../../src/listeners/router.js';
import { blockActionsPayload, viewSubmissionPayload } from '../support/slackRequests.js';

const command = (name: string) => ({
  command: name,
  text: 'list',
  user_id: 'U1',
  channel_id: 'C1',
  team_id: 'T0SANDBOX',
  trigger_id: '1.2.a',
  response_url: 'https://hooks.slack.invalid/commands/1',
});

/** A real Bolt App that never reaches Slack, with `router` mounted on it. */
function boltWith(router: ListenerRouter): App {
  const receiver: Receiver = { init: () => {}, start: async () => {}, stop: async () => {} };
  const app = new App({
    receiver,
    authorize: async () => ({ botToken: 'xoxb-test', botId: 'B0BOT', botUserId: 'U0BOT' }),
  });
  router.mount(app);
  return app;
}

/** What Bolt does with `body`: whether it was acknowledged. */
async function send(app: App, body: Record<string, unknown>): Promise<boolean> {
  const acks: unknown[] = [];
  await app.processEvent({ body, ack: async (response) => void acks.push(response) });
  return acks.length > 0;
}

describe('ListenerRouter', () => {
  it('gives Bolt one listener per surface, whatever the number of listeners', () => {
    const router = new ListenerRouter();
    for (let i = 0; i < 10; i++) {
      router.command(`/c${i}`, async () => {});
      router.action(`a${i}`, async () => {});
      router.view(`v${i}`, async () => {});
    }
    const registered: string[] = [];
    router.mount(new Proxy({} as App, { get: (_app, kind) => () => void registered.push(String(kind)) }));
    expect(registered).toEqual(['command', 'action', 'view']);
  });

  it('runs the listener a command, a button or a form is for, with what Bolt gives it, and no other', async () => {
    const router = new ListenerRouter();
    const ran: string[] = [];
    router.command('/incident', async ({ ack, command: typed }) => {
      ran.push(`command ${typed.text}`);
      await ack();
    });
    router.command('/health', async () => void ran.push('wrong command'));
    router.action('action_approve', async ({ ack, action }) => {
      ran.push(`action ${(action as { value?: string }).value}`);
      await ack();
    });
    router.action(/^playbook_move_(\d+)$/, async ({ ack, action }) => {
      ran.push(`pattern ${(action as { action_id: string }).action_id}`);
      await ack();
    });
    router.action('action_reject', async () => void ran.push('wrong action'));
    router.view('update_modal', async ({ ack, view }) => {
      ran.push(`view ${view.callback_id}`);
      await ack();
    });
    router.view('resolve_modal', async () => void ran.push('wrong view'));
    const app = boltWith(router);

    expect(await send(app, command('/incident'))).toBe(true);
    expect(await send(app, blockActionsPayload('action_approve', '7'))).toBe(true);
    expect(await send(app, blockActionsPayload('playbook_move_2', '7'))).toBe(true);
    expect(
      await send(app, viewSubmissionPayload({ callback_id: 'update_modal', private_metadata: '' }, {})),
    ).toBe(true);
    expect(ran).toEqual(['command list', 'action 7', 'pattern playbook_move_2', 'view update_modal']);
  });

  it('leaves a request no listener is for unacknowledged, as Bolt does', async () => {
    const router = new ListenerRouter();
    const ran: string[] = [];
    router.command('/incident', async () => void ran.push('/incident'));
    router.action('action_approve', async () => void ran.push('action_approve'));
    const app = boltWith(router);
    expect(await send(app, command('/unknown'))).toBe(false);
    expect(await send(app, blockActionsPayload('someone_elses_button', '1'))).toBe(false);
    expect(ran).toEqual([]);
  });

  it('refuses a second listener for one id as it registers', () => {
    const router = new ListenerRouter();
    router.action('action_approve', async () => {});
    expect(() => router.action('action_approve', async () => {})).toThrow(
      'two listeners for the action action_approve',
    );
  });
});
