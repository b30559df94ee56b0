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
    convoStore: false,
  });
  router.register(app);
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
    router.register(new Proxy({} as App, { get: (_app, kind) => () => void registered.push(String(kind)) }));
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

  it('leaves a request no listener is for unacknowledged, as Bolt does; a closed form runs nothing', async () => {
    const router = new ListenerRouter();
    const ran: string[] = [];
    router.command('/incident', async () => void ran.push('/incident'));
    router.action('action_approve', async () => void ran.push('action_approve'));
    router.view('update_modal', async () => void ran.push('update_modal'));
    const app = boltWith(router);
    expect(await send(app, command('/unknown'))).toBe(false);
    expect(await send(app, blockActionsPayload('someone_elses_button', '1'))).toBe(false);
    const form = viewSubmissionPayload({ callback_id: 'update_modal', private_metadata: '' }, {});
    expect(await send(app, { ...form, view: { ...(form.view as object), callback_id: 'other' } })).toBe(
      false,
    );
    expect(await send(app, { ...form, type: 'view_closed' })).toBe(false);
    expect(ran).toEqual([]);
  });

  it('lets Bolt wait for the listener, and hands Bolt what it throws', async () => {
    const router = new ListenerRouter();
    let release = () => {};
    const released = new Promise<void>((resolve) => {
      release = resolve;
    });
    router.action('action_approve', async ({ ack }) => {
      await ack();
      await released;
    });
    router.action('action_reject', async ({ ack }) => {
      await ack();
      throw new Error('the listener failed');
    });
    const app = boltWith(router);
    let settled = false;
    const processing = send(app, blockActionsPayload('action_approve', '1')).then(() => {
      settled = true;
    });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(settled).toBe(false);
    release();
    await processing;
    const errors: unknown[] = [];
    app.error(async (err) => void errors.push(err));
    await send(app, blockActionsPayload('action_reject', '1'));
    expect(String(errors[0])).toMatch('the listener failed');
  });

  it('refuses a second listener for one id, and a pattern that test() would move along, as they register', () => {
    const router = new ListenerRouter();
    router.action('action_approve', async () => {});
    expect(() => router.action('action_approve', async () => {})).toThrow(
      'two listeners for the action action_approve',
    );
    expect(() => router.action(/^move_\d+$/g, async () => {})).toThrow('global or sticky');
  });
});
