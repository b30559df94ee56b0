import { Writable } from 'node:stream';
import type { App, ReceiverEvent } from '@slack/bolt';
import { afterEach, describe, expect, it, vi } from 'vitest';
import {
  ACK_DEADLINE_MS,
  dispatchToBolt,
  readEnvelope,
  readSocketBody,
} from '../../src/listeners/envelope.js';
import { createLogger } from '../../src/observability/logger.js';
import { blockActionsPayload, viewSubmissionPayload } from '../support/slackRequests.js';

const form = (payload: unknown) => ({ payload: JSON.stringify(payload) });

describe('readEnvelope: what Slack really sends passes', () => {
  const click = blockActionsPayload('action_approve', '1');
  it.each([
    ['an org-wide install (team null, an enterprise)', { ...click, team: null, enterprise: { id: 'E0ORG' } }],
    ['a payload without team', { ...click, team: undefined }],
    ['a Grid user, a private channel', { ...click, user: { id: 'W0GRID' }, channel: { id: 'G0PRIVATE' } }],
    ['a direct message', { ...click, channel: { id: 'D0DIRECT' } }],
    ['an ephemeral message (no message)', { ...click, message: undefined }],
    ['a click in a modal', { ...click, channel: undefined, container: { type: 'view', view_id: 'V1' } }],
    ['a click in a thread', blockActionsPayload('action_approve', '1', { threadTs: '1700000000.000100' })],
  ])('%s', (_label, payload) => {
    expect(readEnvelope(form(payload))).toMatchObject({ ok: true });
    expect(readSocketBody(payload)).toMatchObject({ ok: true });
  });

  it('a form closed, a form without private_metadata, a command with no text', () => {
    const view = viewSubmissionPayload({ callback_id: 'x', private_metadata: '' }, {});
    expect(readEnvelope(form({ ...view, type: 'view_closed' }))).toMatchObject({ ok: true });
    const bare = { ...(view.view as object), private_metadata: undefined };
    expect(readEnvelope(form({ ...view, view: bare }))).toMatchObject({ ok: true });
    const command = {
      command: '/health',
      user_id: 'U1',
      channel_id: 'C1',
      team_id: 'T1',
      trigger_id: '1.2.a',
    };
    expect(readEnvelope(command)).toMatchObject({ ok: true });
  });
});

it("readEnvelope refuses a click whose thread is not a message's ts", () => {
  const click = blockActionsPayload('action_approve', '1', { threadTs: '1700000000.000100' });
  const container = { ...(click.container as object), thread_ts: '<!here>' };
  expect(readEnvelope(form({ ...click, container }))).toEqual({
    ok: false,
    problem: 'payload.container.thread_ts: expected a message ts',
  });
});

describe('dispatchToBolt', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('logs a request still not acknowledged after 3 seconds, as Bolt did', async () => {
    vi.useFakeTimers();
    const lines: Array<{ msg: string; slackRequest: string }> = [];
    const logger = createLogger(
      'warn',
      [],
      new Writable({
        write(chunk, _encoding, done) {
          lines.push(JSON.parse(String(chunk)));
          done();
        },
      }),
    );
    let release = () => {};
    const app = {
      processEvent: (event: ReceiverEvent) =>
        new Promise<void>((resolve) => {
          release = () => void event.ack().then(resolve);
        }),
    } as unknown as App;
    const acks: unknown[] = [];
    const body = { command: '/incident', text: 'list' };
    const dispatched = dispatchToBolt(app, { body, ack: async (r) => void acks.push(r) }, logger);
    await vi.advanceTimersByTimeAsync(ACK_DEADLINE_MS - 1);
    expect(lines).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(lines).toMatchObject([{ msg: 'not acknowledged within 3 seconds', slackRequest: '/incident' }]);
    release();
    await dispatched;
    expect(acks).toEqual([undefined]);
  });
});
