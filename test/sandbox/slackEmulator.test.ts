import { type Logger, LogLevel } from '@slack/logger';
import { WebClient } from '@slack/web-api';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type RunningEmulator, startSlackEmulator } from '../../src/sandbox/slackEmulator.js';
import { waitFor } from '../support/services.js';

const TOKEN = 'xoxb-test-emulator-token';
const BOT = 'U0INCIDENTBOT';

let slack: RunningEmulator;
beforeEach(async () => {
  slack = await startSlackEmulator({ token: TOKEN });
});
afterEach(async () => {
  await slack.close();
});

/** A Web API call over real HTTP with a JSON body, as any client may make it. */
async function call<T = Record<string, unknown>>(method: string, args: Record<string, unknown>): Promise<T> {
  const res = await fetch(`${slack.apiUrl}${method}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json; charset=utf-8' },
    body: JSON.stringify(args),
  });
  expect(res.status).toBe(200);
  return (await res.json()) as T;
}

// The client logs every refusal; the tests below provoke some on purpose.
const noop = () => undefined;
const quiet: Logger = {
  debug: noop,
  info: noop,
  warn: noop,
  error: noop,
  setLevel: noop,
  getLevel: () => LogLevel.ERROR,
  setName: noop,
};

function client(): WebClient {
  return new WebClient(TOKEN, { slackApiUrl: slack.apiUrl, retryConfig: { retries: 0 }, logger: quiet });
}

const plain = (text: string) => ({ type: 'plain_text', text });

const MODAL = {
  type: 'modal',
  callback_id: 'declare_incident',
  private_metadata: '{"channel":"C0PAYMENTS"}',
  title: plain('Declare an incident'),
  submit: plain('Declare'),
  close: plain('Cancel'),
  blocks: [
    { type: 'input', block_id: 'title', label: plain('Title'), element: { type: 'plain_text_input' } },
    {
      type: 'input',
      block_id: 'severity',
      label: plain('Severity'),
      element: { type: 'static_select', action_id: 'pick', options: [{ text: plain('P0'), value: 'P0' }] },
    },
  ],
};

describe('views.open', () => {
  it('opens a modal, answering with the view as Slack does and keeping it for tests', async () => {
    const answer = await call('views.open', { trigger_id: '12345.98765.abcd', view: MODAL });
    expect(answer).toEqual({
      ok: true,
      view: {
        id: expect.stringMatching(/^V\d{8}$/),
        team_id: 'T0SANDBOX',
        type: 'modal',
        title: MODAL.title,
        submit: MODAL.submit,
        close: MODAL.close,
        blocks: MODAL.blocks,
        callback_id: 'declare_incident',
        private_metadata: '{"channel":"C0PAYMENTS"}',
        state: { values: {} },
        hash: expect.stringMatching(/^\d+\.[0-9a-f]+$/),
      },
    });
    const [opened] = slack.emulator.openedViews();
    expect(opened).toMatchObject({
      id: (answer.view as { id: string }).id,
      triggerId: '12345.98765.abcd',
      callbackId: 'declare_incident',
      privateMetadata: '{"channel":"C0PAYMENTS"}',
      title: MODAL.title,
      blocks: MODAL.blocks,
    });
  });

  it('gives each view its own id and defaults callback_id and private_metadata to empty', async () => {
    const bare = { type: 'modal', title: plain('Details'), blocks: [] };
    const first = await call<{ view: { id: string; callback_id: string } }>('views.open', {
      trigger_id: 't1',
      view: bare,
    });
    const second = await call<{ view: { id: string; private_metadata: string } }>('views.open', {
      trigger_id: 't2',
      view: bare,
    });
    expect(first.view.id).not.toBe(second.view.id);
    expect(first.view.callback_id).toBe('');
    expect(second.view.private_metadata).toBe('');
    expect(slack.emulator.openedViews().map((v) => v.triggerId)).toEqual(['t1', 't2']);
  });

  it('takes the view as a JSON-encoded string, as the method documents it', async () => {
    const answer = await call('views.open', { trigger_id: 't', view: JSON.stringify(MODAL) });
    expect(answer.ok).toBe(true);
  });

  it('answers invalid_trigger_id without a trigger_id', async () => {
    expect(await call('views.open', { view: MODAL })).toEqual({ ok: false, error: 'invalid_trigger_id' });
    expect(await call('views.open', { trigger_id: '', view: MODAL })).toEqual({
      ok: false,
      error: 'invalid_trigger_id',
    });
    expect(slack.emulator.openedViews()).toEqual([]);
  });

  it('accepts every modal limit exactly at its maximum', async () => {
    const answer = await call('views.open', {
      trigger_id: 't',
      view: {
        type: 'modal',
        title: plain('t'.repeat(24)),
        submit: plain('s'.repeat(24)),
        close: plain('c'.repeat(24)),
        callback_id: 'c'.repeat(255),
        private_metadata: 'm'.repeat(3000),
        blocks: Array.from({ length: 100 }, () => ({ type: 'divider' })),
      },
    });
    expect(answer.ok).toBe(true);
  });

  it.each([
    ['a home view', { ...MODAL, type: 'home' }, '[ERROR] expected modal [json-pointer:/view/type]'],
    [
      'a title over 24 characters',
      { ...MODAL, title: plain('t'.repeat(25)) },
      '[ERROR] must be at most 24 characters, is 25 [json-pointer:/view/title/text]',
    ],
    ['no title', { ...MODAL, title: undefined }, '[ERROR] expected a text object [json-pointer:/view/title]'],
    [
      'a mrkdwn submit button',
      { ...MODAL, submit: { type: 'mrkdwn', text: '*Go*' } },
      '[ERROR] expected plain_text [json-pointer:/view/submit/type]',
    ],
    [
      'a close button over 24 characters',
      { ...MODAL, close: plain('c'.repeat(25)) },
      '[ERROR] must be at most 24 characters, is 25 [json-pointer:/view/close/text]',
    ],
    [
      'a callback_id over 255 characters',
      { ...MODAL, callback_id: 'c'.repeat(256) },
      '[ERROR] expected at most 255 characters [json-pointer:/view/callback_id]',
    ],
    [
      'private_metadata over 3000 characters',
      { ...MODAL, private_metadata: 'm'.repeat(3001) },
      '[ERROR] expected at most 3000 characters [json-pointer:/view/private_metadata]',
    ],
    [
      '101 blocks',
      { ...MODAL, blocks: Array.from({ length: 101 }, () => ({ type: 'divider' })) },
      '[ERROR] at most 100 blocks, got 101 [json-pointer:/view/blocks]',
    ],
    ['no blocks', { ...MODAL, blocks: undefined }, '[ERROR] expected an array [json-pointer:/view/blocks]'],
    [
      'input blocks without a submit button',
      { ...MODAL, submit: undefined },
      '[ERROR] required when the view has input blocks [json-pointer:/view/submit]',
    ],
    [
      'an input label over 2000 characters',
      { ...MODAL, blocks: [{ ...MODAL.blocks[0], label: plain('l'.repeat(2001)) }] },
      '[ERROR] must be at most 2000 characters, is 2001 [json-pointer:/view/blocks/0/label/text]',
    ],
    [
      'an option value over 150 characters',
      {
        ...MODAL,
        blocks: [
          {
            type: 'input',
            label: plain('Severity'),
            element: { type: 'static_select', options: [{ text: plain('P0'), value: 'v'.repeat(151) }] },
          },
        ],
      },
      '[ERROR] expected 1 to 150 characters [json-pointer:/view/blocks/0/element/options/0/value]',
    ],
    ['a view that is no object', 'not json', '[ERROR] must provide an object [json-pointer:/view]'],
  ])('refuses %s with invalid_arguments, naming the place', async (_name, view, message) => {
    expect(await call('views.open', { trigger_id: 't', view })).toEqual({
      ok: false,
      error: 'invalid_arguments',
      response_metadata: { messages: [message] },
    });
    expect(slack.emulator.openedViews()).toEqual([]);
  });

  it('lists every problem of a view at once', async () => {
    const answer = await call<{ response_metadata: { messages: string[] } }>('views.open', {
      trigger_id: 't',
      view: { ...MODAL, title: plain(''), blocks: [{ type: 'image' }] },
    });
    expect(answer.response_metadata.messages).toEqual([
      '[ERROR] must not be empty [json-pointer:/view/title/text]',
      '[ERROR] unsupported block type "image" [json-pointer:/view/blocks/0/type]',
    ]);
  });
});

describe('views.update', () => {
  const open = async () =>
    (await call<{ view: { id: string; hash: string } }>('views.open', { trigger_id: 't', view: MODAL })).view;
  const updated = { type: 'modal', title: plain('Incident declared'), blocks: [{ type: 'divider' }] };

  it('replaces the whole view, keeping its id and changing its hash', async () => {
    const view = await open();
    const answer = await call<{ ok: boolean; view: Record<string, unknown> }>('views.update', {
      view_id: view.id,
      hash: view.hash,
      view: updated,
    });
    expect(answer.ok).toBe(true);
    expect(answer.view).toMatchObject({ id: view.id, title: updated.title, blocks: updated.blocks });
    expect(answer.view.hash).not.toBe(view.hash);
    expect(answer.view).not.toHaveProperty('submit');
    const [stored] = slack.emulator.openedViews();
    expect(stored).toMatchObject({ id: view.id, triggerId: 't', title: updated.title, callbackId: '' });
    expect(stored).not.toHaveProperty('submit');
  });

  it('answers not_found for a view it never opened', async () => {
    expect(await call('views.update', { view_id: 'V99999999', view: updated })).toEqual({
      ok: false,
      error: 'not_found',
    });
  });

  it('answers hash_conflict when the view changed since the hash was read', async () => {
    const view = await open();
    await call('views.update', { view_id: view.id, view: updated });
    expect(await call('views.update', { view_id: view.id, hash: view.hash, view: MODAL })).toEqual({
      ok: false,
      error: 'hash_conflict',
    });
  });

  it('refuses an invalid view as views.open does', async () => {
    const view = await open();
    const answer = await call('views.update', { view_id: view.id, view: { ...updated, type: 'home' } });
    expect(answer).toMatchObject({ ok: false, error: 'invalid_arguments' });
    expect(slack.emulator.openedViews()[0]?.title).toEqual(MODAL.title);
  });
});

describe('conversations.create', () => {
  it('creates public and private channels, with the bot as creator and member', async () => {
    const before = Math.floor(Date.now() / 1000);
    const answer = await call<{ ok: boolean; channel: Record<string, unknown> }>('conversations.create', {
      name: 'inc-42-checkout_errors',
    });
    expect(answer).toEqual({
      ok: true,
      channel: {
        id: expect.stringMatching(/^C[A-Z0-9]+$/),
        name: 'inc-42-checkout_errors',
        is_channel: true,
        is_private: false,
        is_member: true,
        created: expect.any(Number),
        creator: BOT,
        num_members: 1,
      },
    });
    expect(answer.channel.created).toBeGreaterThanOrEqual(before);
    const secret = await call<{ channel: { id: string; is_private: boolean } }>('conversations.create', {
      name: 'inc-43',
      is_private: true,
    });
    expect(secret.channel.is_private).toBe(true);
    expect(slack.emulator.channels()).toEqual([
      expect.objectContaining({ id: answer.channel.id, name: 'inc-42-checkout_errors', members: [BOT] }),
      expect.objectContaining({ id: secret.channel.id, name: 'inc-43', isPrivate: true }),
    ]);
  });

  it('accepts a name of exactly 80 characters', async () => {
    expect((await call('conversations.create', { name: 'a'.repeat(80) })).ok).toBe(true);
  });

  it.each([
    ['', 'invalid_name_required'],
    ['a'.repeat(81), 'invalid_name_maxlength'],
    ['Incident-42', 'invalid_name_specials'],
    ['inc 42', 'invalid_name_specials'],
    ['inc#42', 'invalid_name_specials'],
    ['inc.42', 'invalid_name_specials'],
    ['--_', 'invalid_name_punctuation'],
  ])('refuses the name %j with %s', async (name, error) => {
    expect(await call('conversations.create', { name })).toEqual({ ok: false, error });
    expect(slack.emulator.channels()).toEqual([]);
  });

  it('answers name_taken for a name in use, public or private', async () => {
    slack.emulator.createChannel('inc-42');
    slack.emulator.createChannel('inc-43', true);
    expect(await call('conversations.create', { name: 'inc-42' })).toEqual({
      ok: false,
      error: 'name_taken',
    });
    expect(await call('conversations.create', { name: 'inc-43', is_private: true })).toEqual({
      ok: false,
      error: 'name_taken',
    });
    expect(slack.emulator.channels()).toHaveLength(2);
  });

  it('createChannel throws on a name Slack would refuse', () => {
    expect(() => slack.emulator.createChannel('Bad Name')).toThrow('invalid_name_specials');
  });
});

describe('users.conversations', () => {
  it("lists the bot's channels of the kinds asked for, a page at a time, with their creator", async () => {
    const mine = ['inc-1', 'inc-2', 'inc-3'].map((name) => slack.emulator.createChannel(name).id);
    slack.emulator.createChannel('not-mine', false, undefined, 'U0CAROL');
    slack.emulator.createChannel('private-mine', true);
    const first = (await call('users.conversations', { types: 'public_channel', limit: 2 })) as {
      channels: Array<{ id: string; creator: string }>;
      response_metadata: { next_cursor: string };
    };
    const second = (await call('users.conversations', {
      types: 'public_channel',
      limit: 2,
      cursor: first.response_metadata.next_cursor,
    })) as typeof first;
    expect([...first.channels, ...second.channels].map((c) => c.id)).toEqual(mine);
    expect(first.channels[0]?.creator).toBe(BOT);
    expect(second.response_metadata.next_cursor).toBe('');
  });
});

describe('conversations.invite', () => {
  it('adds the users to the channel and answers with the channel', async () => {
    const { id } = slack.emulator.createChannel('inc-42');
    const answer = await call('conversations.invite', { channel: id, users: 'U0ALICE,W0BOB' });
    expect(answer).toMatchObject({ ok: true, channel: { id, name: 'inc-42', num_members: 3 } });
    expect(slack.emulator.channels()[0]?.members).toEqual([BOT, 'U0ALICE', 'W0BOB']);
  });

  it('answers already_in_channel for someone who is there, and adds nobody', async () => {
    const { id } = slack.emulator.createChannel('inc-42');
    await call('conversations.invite', { channel: id, users: 'U0ALICE' });
    expect(await call('conversations.invite', { channel: id, users: 'U0CAROL,U0ALICE' })).toEqual({
      ok: false,
      error: 'already_in_channel',
    });
    expect(slack.emulator.channels()[0]?.members).toEqual([BOT, 'U0ALICE']);
  });

  it('answers channel_not_found for a channel it did not create, which can still be posted to', async () => {
    expect(await call('conversations.invite', { channel: 'C0PAYMENTS', users: 'U0ALICE' })).toEqual({
      ok: false,
      error: 'channel_not_found',
    });
    expect(await call('chat.postMessage', { channel: 'C0PAYMENTS', text: 'still here' })).toMatchObject({
      ok: true,
    });
    expect(slack.emulator.channelMessages('C0PAYMENTS')).toHaveLength(1);
  });

  it('answers no_user, user_not_found and cant_invite_self as Slack does', async () => {
    const { id } = slack.emulator.createChannel('inc-42');
    expect(await call('conversations.invite', { channel: id, users: '' })).toEqual({
      ok: false,
      error: 'no_user',
    });
    expect(await call('conversations.invite', { channel: id, users: 'U0ALICE,bob' })).toEqual({
      ok: false,
      error: 'user_not_found',
    });
    expect(await call('conversations.invite', { channel: id, users: BOT })).toEqual({
      ok: false,
      error: 'cant_invite_self',
    });
    expect(slack.emulator.channels()[0]?.members).toEqual([BOT]);
  });
});

describe('file uploads', () => {
  const uploadUrl = async (filename: string, length: number) =>
    call<{ ok: boolean; upload_url: string; file_id: string }>('files.getUploadURLExternal', {
      filename,
      length,
    });
  const post = (url: string, body: string | FormData) => fetch(url, { method: 'POST', body });

  it('hands out an upload URL on its own server, takes the bytes, then shares the file in a thread', async () => {
    const root = await call<{ ts: string }>('chat.postMessage', { channel: 'C0PAYMENTS', text: 'INC-42' });
    const content = 'incident timeline\n';
    const ticket = await uploadUrl('timeline.txt', Buffer.byteLength(content));
    expect(ticket).toEqual({
      ok: true,
      upload_url: `${slack.apiUrl.replace(/\/api\/$/, '')}/upload/${ticket.file_id}`,
      file_id: expect.stringMatching(/^F[A-Z0-9]+$/),
    });

    const uploaded = await post(ticket.upload_url, content);
    expect(uploaded.status).toBe(200);
    expect(await uploaded.text()).toBe(`OK - ${Buffer.byteLength(content)}`);

    const answer = await call('files.completeUploadExternal', {
      files: [{ id: ticket.file_id, title: 'Timeline' }],
      channel_id: 'C0PAYMENTS',
      thread_ts: root.ts,
      initial_comment: 'The timeline so far',
    });
    expect(answer).toEqual({ ok: true, files: [{ id: ticket.file_id, title: 'Timeline' }] });
    expect(slack.emulator.files()).toEqual([
      {
        id: ticket.file_id,
        filename: 'timeline.txt',
        title: 'Timeline',
        content,
        channel: 'C0PAYMENTS',
        threadTs: root.ts,
      },
    ]);
    const [reply] = slack.emulator.threadOf('C0PAYMENTS', root.ts);
    expect(reply).toMatchObject({
      text: 'The timeline so far',
      files: [{ id: ticket.file_id, name: 'timeline.txt', title: 'Timeline' }],
    });
    const thread = await call<{ messages: Array<Record<string, unknown>> }>('conversations.replies', {
      channel: 'C0PAYMENTS',
      ts: root.ts,
    });
    expect(thread.messages[1]).toMatchObject({
      thread_ts: root.ts,
      files: [{ id: ticket.file_id, name: 'timeline.txt', title: 'Timeline' }],
    });
  });

  it('takes the bytes as a multipart form too', async () => {
    const ticket = await uploadUrl('notes.md', 7);
    const form = new FormData();
    form.append('file', new Blob(['# notes']), 'notes.md');
    const uploaded = await post(ticket.upload_url, form);
    expect(await uploaded.text()).toBe('OK - 7');
    expect(slack.emulator.files()[0]).toMatchObject({ id: ticket.file_id, content: '# notes' });
  });

  it('refuses a form without a file, and bytes for a URL it never handed out', async () => {
    const ticket = await uploadUrl('notes.md', 7);
    const form = new FormData();
    form.append('comment', 'no file here');
    expect((await post(ticket.upload_url, form)).status).toBe(400);
    expect((await post(ticket.upload_url.replace(ticket.file_id, 'F99999999'), 'x')).status).toBe(404);
    expect(slack.emulator.files()).toEqual([]);
  });

  it('keeps a file completed without a channel private, titled after its name', async () => {
    const ticket = await uploadUrl('private.txt', 6);
    await post(ticket.upload_url, 'secret');
    const answer = await call('files.completeUploadExternal', { files: [{ id: ticket.file_id }] });
    expect(answer).toEqual({ ok: true, files: [{ id: ticket.file_id, title: 'private.txt' }] });
    expect(slack.emulator.files()[0]).toMatchObject({ title: 'private.txt', content: 'secret' });
    expect(slack.emulator.files()[0]).not.toHaveProperty('channel');
    expect(slack.emulator.allMessages()).toEqual([]);
  });

  it('answers file_not_found for an unknown file or one whose bytes never arrived, sharing nothing', async () => {
    const sent = await uploadUrl('sent.txt', 4);
    await post(sent.upload_url, 'sent');
    const unsent = await uploadUrl('unsent.txt', 4);
    for (const id of ['F99999999', unsent.file_id]) {
      expect(
        await call('files.completeUploadExternal', {
          files: [{ id: sent.file_id }, { id }],
          channel_id: 'C0PAYMENTS',
        }),
      ).toEqual({ ok: false, error: 'file_not_found' });
    }
    expect(slack.emulator.allMessages()).toEqual([]);
    expect(slack.emulator.files()[0]).not.toHaveProperty('channel');
  });

  it('answers missing_argument for a zero length and invalid_arguments without a filename', async () => {
    expect(await call('files.getUploadURLExternal', { filename: 'empty.txt', length: 0 })).toEqual({
      ok: false,
      error: 'missing_argument',
    });
    expect(await call('files.getUploadURLExternal', { length: 3 })).toMatchObject({
      ok: false,
      error: 'invalid_arguments',
    });
    expect(await call('files.completeUploadExternal', { channel_id: 'C0PAYMENTS' })).toMatchObject({
      ok: false,
      error: 'invalid_arguments',
    });
  });
});

describe('users.info', () => {
  it('knows any user id, in UTC', async () => {
    expect(await call('users.info', { user: 'U0ALICE' })).toEqual({
      ok: true,
      user: {
        id: 'U0ALICE',
        team_id: 'T0SANDBOX',
        name: 'u0alice',
        real_name: 'User U0ALICE',
        tz: 'UTC',
        is_bot: false,
        profile: { real_name: 'User U0ALICE', display_name: 'u0alice' },
      },
    });
    expect(await call('users.info', { user: 'W0ENTERPRISE' })).toMatchObject({ ok: true });
  });

  it('knows the bot itself as a bot', async () => {
    expect(await call('users.info', { user: BOT })).toMatchObject({
      user: { id: BOT, name: 'incident-bot', is_bot: true },
    });
  });

  it.each(['', 'C0PAYMENTS', 'u0alice', 'alice'])('answers user_not_found for %j', async (user) => {
    expect(await call('users.info', { user })).toEqual({ ok: false, error: 'user_not_found' });
  });

  it('needs users:read when told the scopes', async () => {
    const scoped = await startSlackEmulator({ token: TOKEN, scopes: ['chat:write'] });
    try {
      const res = await fetch(`${scoped.apiUrl}users.info`, {
        method: 'POST',
        headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
        body: JSON.stringify({ user: 'U0ALICE' }),
      });
      expect(await res.json()).toEqual({ ok: false, error: 'missing_scope', needed: 'users:read' });
    } finally {
      await scoped.close();
    }
  });

  it('answers user_not_found for a person forgetUser removed, as for one of another workspace', async () => {
    slack.emulator.addUser({ id: 'U0GONE', name: 'gone', realName: 'Gone Away' });
    slack.emulator.forgetUser('U0GONE');
    expect(await call('users.info', { user: 'U0GONE' })).toEqual({ ok: false, error: 'user_not_found' });
  });
});

describe('people, ephemeral messages and named channels', () => {
  it('describes a person addUser made by their name in users.info', async () => {
    slack.emulator.addUser({ id: 'U0BOB', name: 'bob', realName: 'Bob (SRE on call)' });
    expect(await call('users.info', { user: 'U0BOB' })).toMatchObject({
      user: { id: 'U0BOB', name: 'bob', real_name: 'Bob (SRE on call)', is_bot: false },
    });
    expect(slack.emulator.users()).toEqual([{ id: 'U0BOB', name: 'bob', realName: 'Bob (SRE on call)' }]);
  });

  it('keeps chat.postEphemeral messages for the one person, and refuses what chat.postMessage refuses', async () => {
    const answer = await call<{ ok: boolean; message_ts: string }>('chat.postEphemeral', {
      channel: 'C0PAYMENTS',
      user: 'U0ALICE',
      text: 'only for alice',
    });
    expect(answer.ok).toBe(true);
    expect(slack.emulator.ephemerals('U0ALICE')).toEqual([
      { channel: 'C0PAYMENTS', user: 'U0ALICE', ts: answer.message_ts, text: 'only for alice', blocks: [] },
    ]);
    expect(slack.emulator.ephemerals('U0BOB')).toEqual([]);
    expect(await call('chat.postEphemeral', { channel: 'C0PAYMENTS', user: 'U0ALICE' })).toEqual({
      ok: false,
      error: 'no_text',
    });
    expect(
      await call('chat.postEphemeral', {
        channel: 'C0PAYMENTS',
        user: 'U0ALICE',
        blocks: [{ type: 'carousel' }],
      }),
    ).toMatchObject({ ok: false, error: 'invalid_blocks' });
    expect(await call('chat.postEphemeral', { channel: 'C0PAYMENTS', text: 'x' })).toEqual({
      ok: false,
      error: 'invalid_arguments',
    });
    expect(slack.emulator.ephemerals()).toHaveLength(1);
  });

  it('keeps the thread a chat.postEphemeral message is shown in', async () => {
    const answer = await call<{ message_ts: string }>('chat.postEphemeral', {
      channel: 'C0PAYMENTS',
      user: 'U0CAROL',
      text: 'in the thread',
      thread_ts: '1700000000.000100',
    });
    expect(slack.emulator.ephemerals('U0CAROL')).toEqual([
      {
        channel: 'C0PAYMENTS',
        user: 'U0CAROL',
        ts: answer.message_ts,
        text: 'in the thread',
        blocks: [],
        threadTs: '1700000000.000100',
      },
    ]);
  });

  it('creates a channel under the id a config names, and still refuses a taken name', () => {
    expect(slack.emulator.createChannel('incidents', false, 'C0INCIDENTS').id).toBe('C0INCIDENTS');
    expect(() => slack.emulator.createChannel('incidents', false, 'C0OTHER')).toThrow('name_taken');
  });
});

describe('the new methods alongside the emulator tools', () => {
  it('records them and lets failNext and hold act on them', async () => {
    slack.emulator.failNext('views.open', { error: 'expired_trigger_id' });
    expect(await call('views.open', { trigger_id: 't', view: MODAL })).toEqual({
      ok: false,
      error: 'expired_trigger_id',
    });
    const held = slack.emulator.hold('users.info');
    const pending = call('users.info', { user: 'U0ALICE' });
    await held.reached;
    expect(slack.emulator.callsOf('users.info')).toEqual([]);
    held.release();
    expect((await pending).ok).toBe(true);
    expect(slack.emulator.callsOf('views.open')).toEqual([
      expect.objectContaining({ ok: false, error: 'expired_trigger_id' }),
    ]);
    expect(slack.emulator.callsOf('users.info')).toEqual([
      expect.objectContaining({ ok: true, status: 200 }),
    ]);
  });

  it('answers file_uploads_disabled when not served over HTTP, as uploads need a URL', async () => {
    const { SlackEmulator } = await import('../../src/sandbox/slackEmulator.js');
    const offline = new SlackEmulator();
    expect(
      offline.handle('files.getUploadURLExternal', { filename: 'a.txt', length: 1 }, `Bearer ${TOKEN}`).body,
    ).toEqual({ ok: false, error: 'file_uploads_disabled' });
  });
});

describe('an outage', () => {
  const raw = (method: string) =>
    fetch(`${slack.apiUrl}${method}`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } });

  it('fails every method with the status until it ends, then answers again', async () => {
    slack.emulator.outage(Number.POSITIVE_INFINITY, 502);
    expect((await raw('auth.test')).status).toBe(502);
    expect((await raw('chat.postMessage')).status).toBe(502);
    slack.emulator.endOutage();
    expect((await raw('auth.test')).status).toBe(200);
  });

  it('ends on its own after the time given, and failNext faults wait behind it', async () => {
    slack.emulator.failNext('auth.test', { error: 'fatal_error' });
    slack.emulator.outage(50);
    expect((await raw('auth.test')).status).toBe(503);
    await waitFor(async () => (await raw('users.info')).status === 200, 5000, 'the outage to end');
    expect(await (await raw('auth.test')).json()).toEqual({ ok: false, error: 'fatal_error' });
    expect(await (await raw('auth.test')).json()).toMatchObject({ ok: true });
  });
});

describe('an answer lost', () => {
  it('carries the call out, then drops the connection; the share is listed in its thread', async () => {
    const web = client();
    const root = await web.chat.postMessage({ channel: 'C0PAYMENTS', text: 'INC-42' });
    const { file_id: id, upload_url: url } = await web.files.getUploadURLExternal({
      filename: 'pm.md',
      length: 4,
    });
    expect((await fetch(String(url), { method: 'POST', body: '# PM' })).status).toBe(200);
    slack.emulator.failNext('files.completeUploadExternal', { answerLost: true });
    await expect(
      call('files.completeUploadExternal', {
        files: [{ id, title: 'PM' }],
        channel_id: 'C0PAYMENTS',
        thread_ts: root.ts,
      }),
    ).rejects.toThrow('fetch failed');
    expect(slack.emulator.callsOf('files.completeUploadExternal')).toEqual([
      expect.objectContaining({ ok: true, status: 200 }),
    ]);
    const replies = await web.conversations.replies({ channel: 'C0PAYMENTS', ts: String(root.ts) });
    expect(replies.messages?.map((m) => m.files?.map((f) => f.id))).toEqual([undefined, [id]]);
  });
});

describe('a channel that refuses the bot', () => {
  it('answers its error to chat.postMessage and chat.update there, and nowhere else', async () => {
    const posted = await call<{ ts: string }>('chat.postMessage', { channel: 'C0GONE', text: 'before' });
    slack.emulator.refuseChannel('C0GONE', 'is_archived');
    expect(await call('chat.postMessage', { channel: 'C0GONE', text: 'after' })).toEqual({
      ok: false,
      error: 'is_archived',
    });
    expect(await call('chat.update', { channel: 'C0GONE', ts: posted.ts, text: 'after' })).toEqual({
      ok: false,
      error: 'is_archived',
    });
    expect(await call('chat.postMessage', { channel: 'C0OTHER', text: 'elsewhere' })).toMatchObject({
      ok: true,
    });
  });
});

describe('through @slack/web-api', () => {
  it('serves the real client: views, channels, invites, users and their errors', async () => {
    const web = client();
    const opened = await web.views.open({ trigger_id: 't', view: MODAL as never });
    expect(opened.view?.callback_id).toBe('declare_incident');
    const updated = await web.views.update({
      view_id: String(opened.view?.id),
      hash: opened.view?.hash,
      view: { type: 'modal', title: plain('Done') as never, blocks: [] },
    });
    expect(updated.view?.id).toBe(opened.view?.id);

    const created = await web.conversations.create({ name: 'inc-42', is_private: false });
    expect(created.channel).toMatchObject({ name: 'inc-42', is_private: false });
    await web.conversations.invite({ channel: String(created.channel?.id), users: 'U0ALICE,U0BOB' });
    expect(slack.emulator.channels()[0]?.members).toEqual([BOT, 'U0ALICE', 'U0BOB']);
    await expect(
      web.conversations.invite({ channel: String(created.channel?.id), users: 'U0ALICE' }),
    ).rejects.toMatchObject({ data: { ok: false, error: 'already_in_channel' } });
    await expect(web.conversations.create({ name: 'inc-42' })).rejects.toMatchObject({
      data: { error: 'name_taken' },
    });

    const user = await web.users.info({ user: 'U0ALICE' });
    expect(user.user).toMatchObject({ id: 'U0ALICE', tz: 'UTC', is_bot: false });
    await expect(
      web.views.open({ trigger_id: 't', view: { ...MODAL, type: 'home' } as never }),
    ).rejects.toMatchObject({
      data: {
        error: 'invalid_arguments',
        response_metadata: { messages: ['[ERROR] expected modal [json-pointer:/view/type]'] },
      },
    });
  });

  it('runs files.uploadV2 end to end into a thread', async () => {
    const web = client();
    const root = await web.chat.postMessage({ channel: 'C0PAYMENTS', text: 'INC-42' });
    const result = await web.files.uploadV2({
      channel_id: 'C0PAYMENTS',
      thread_ts: String(root.ts),
      filename: 'postmortem.md',
      title: 'Postmortem draft',
      content: '# INC-42 postmortem\n',
    });
    const [file] = slack.emulator.files();
    expect(file).toEqual({
      id: expect.stringMatching(/^F/),
      filename: 'postmortem.md',
      title: 'Postmortem draft',
      content: '# INC-42 postmortem\n',
      channel: 'C0PAYMENTS',
      threadTs: root.ts,
    });
    expect(result).toMatchObject({
      ok: true,
      files: [{ ok: true, files: [{ id: file?.id, title: 'Postmortem draft' }] }],
    });
    expect(slack.emulator.threadOf('C0PAYMENTS', String(root.ts))).toEqual([
      expect.objectContaining({
        files: [{ id: file?.id, name: 'postmortem.md', title: 'Postmortem draft' }],
      }),
    ]);
    expect(slack.emulator.calls.map((c) => c.method)).toEqual([
      'chat.postMessage',
      'files.getUploadURLExternal',
      'files.completeUploadExternal',
    ]);
  });
});

describe('message metadata and reading messages back', () => {
  const metadata = (nonce: string) => ({
    event_type: 'incident_root',
    event_payload: { incident_id: 7, nonce },
  });
  type Listed = {
    messages: Array<Record<string, unknown>>;
    has_more: boolean;
    response_metadata: { next_cursor: string };
  };

  it("keeps a post's metadata and lists it only to include_all_metadata, newest first, as Slack does", async () => {
    const web = client();
    const first = await web.chat.postMessage({
      channel: 'C0PAYMENTS',
      text: 'one',
      metadata: metadata('n-1'),
    });
    const second = await web.chat.postMessage({ channel: 'C0PAYMENTS', text: 'two' });
    await web.chat.postMessage({ channel: 'C0PAYMENTS', text: 'reply', thread_ts: String(first.ts) });
    await web.chat.postMessage({ channel: 'C0OTHER', text: 'elsewhere' });

    const plainList = await call<Listed>('conversations.history', { channel: 'C0PAYMENTS' });
    expect(plainList.messages.map((m) => m.text)).toEqual(['two', 'one']);
    expect(plainList.messages.every((m) => !('metadata' in m))).toBe(true);

    const withMetadata = await web.conversations.history({
      channel: 'C0PAYMENTS',
      include_all_metadata: true,
    });
    expect(withMetadata.messages?.map((m) => [m.ts, m.metadata])).toEqual([
      [second.ts, undefined],
      [first.ts, metadata('n-1')],
    ]);
    expect(
      await call('chat.postMessage', { channel: 'C0PAYMENTS', text: 'x', metadata: { event_payload: {} } }),
    ).toEqual({ ok: false, error: 'invalid_metadata_format' });
  });

  it('pages conversations.history between oldest and latest with a cursor', async () => {
    const posted: string[] = [];
    for (let i = 0; i < 5; i++)
      posted.push(slack.emulator.post('C0PAYMENTS', undefined, { text: `m${i}`, blocks: [] }).ts);
    const texts = (list: Listed) => list.messages.map((m) => m.text);
    const page1 = await call<Listed>('conversations.history', {
      channel: 'C0PAYMENTS',
      oldest: posted[0],
      limit: 2,
    });
    expect(texts(page1)).toEqual(['m4', 'm3']);
    expect(page1.has_more).toBe(true);
    const page2 = await call<Listed>('conversations.history', {
      channel: 'C0PAYMENTS',
      oldest: posted[0],
      limit: 2,
      cursor: page1.response_metadata.next_cursor,
    });
    expect(texts(page2)).toEqual(['m2', 'm1']);
    expect(page2).toMatchObject({ has_more: false, response_metadata: { next_cursor: '' } });
    const window = await call<Listed>('conversations.history', {
      channel: 'C0PAYMENTS',
      oldest: posted[1],
      latest: posted[3],
      inclusive: true,
    });
    expect(texts(window)).toEqual(['m3', 'm2', 'm1']);
    expect(await call('conversations.history', { channel: 'C0PAYMENTS', cursor: 'bogus' })).toEqual({
      ok: false,
      error: 'invalid_cursor',
    });
  });

  it('lists a thread from its first message with conversations.replies, replies after oldest', async () => {
    const root = slack.emulator.post('C0PAYMENTS', undefined, { text: 'root', blocks: [] });
    const early = slack.emulator.post('C0PAYMENTS', root.ts, { text: 'early', blocks: [] });
    await call('chat.postMessage', {
      channel: 'C0PAYMENTS',
      thread_ts: root.ts,
      text: 'late',
      metadata: metadata('n-2'),
    });
    const thread = await call<Listed>('conversations.replies', {
      channel: 'C0PAYMENTS',
      ts: root.ts,
      oldest: early.ts,
      include_all_metadata: true,
    });
    expect(thread.messages.map((m) => [m.text, m.metadata])).toEqual([
      ['root', undefined],
      ['late', metadata('n-2')],
    ]);
  });

  it('needs channels:history, or groups:history in a private channel, when told the scopes', async () => {
    const scoped = await startSlackEmulator({ token: TOKEN, scopes: ['chat:write', 'channels:history'] });
    try {
      const secret = scoped.emulator.createChannel('secret', true);
      const ask = async (channel: string) =>
        (await fetch(`${scoped.apiUrl}conversations.history`, {
          method: 'POST',
          headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
          body: JSON.stringify({ channel }),
        }).then((r) => r.json())) as Record<string, unknown>;
      expect(await ask('C0PAYMENTS')).toMatchObject({ ok: true, messages: [] });
      expect(await ask(secret.id)).toEqual({ ok: false, error: 'missing_scope', needed: 'groups:history' });
    } finally {
      await scoped.close();
    }
  });

  it('carries a post out and then answers 5xx, or holds the answer, when told to', async () => {
    slack.emulator.failNext('chat.postMessage', { status: 503, accepted: true });
    const res = await fetch(`${slack.apiUrl}chat.postMessage`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ channel: 'C0PAYMENTS', text: 'taken' }),
    });
    expect(res.status).toBe(503);
    expect(slack.emulator.channelMessages('C0PAYMENTS').map((m) => m.text)).toEqual(['taken']);

    const held = slack.emulator.holdAnswer('chat.postMessage');
    let answered = false;
    const pending = call('chat.postMessage', { channel: 'C0PAYMENTS', text: 'held' }).then((a) => {
      answered = true;
      return a;
    });
    await held.reached;
    expect(slack.emulator.channelMessages('C0PAYMENTS').map((m) => m.text)).toEqual(['taken', 'held']);
    expect(answered).toBe(false);
    held.release();
    expect((await pending).ok).toBe(true);
  });
});

describe('watching calls as they arrive', () => {
  it('tells a watcher of each call once handled, with its arrival time, until it stops watching', async () => {
    const seen: Array<{ method: string; at: number }> = [];
    const stop = slack.emulator.onCall((c) => seen.push({ method: c.method, at: c.at }));
    const before = Date.now();
    await call('chat.postMessage', { channel: 'C0PAYMENTS', text: 'one' });
    await call('chat.postEphemeral', { channel: 'C0PAYMENTS', user: 'U0ALICE', text: 'two' });
    expect(seen.map((c) => c.method)).toEqual(['chat.postMessage', 'chat.postEphemeral']);
    expect(seen[0]!.at).toBeGreaterThanOrEqual(before);
    expect(seen[1]!.at).toBeGreaterThanOrEqual(seen[0]!.at);
    stop();
    await call('chat.postMessage', { channel: 'C0PAYMENTS', text: 'three' });
    expect(seen).toHaveLength(2);
  });
});

describe('form-encoded arguments', () => {
  it('takes a text that starts like JSON as the text it is, as Slack does', async () => {
    const web = client();
    for (const text of ['[P1] Checkout is failing', '{service} is down', '[1, 2]']) {
      const posted = await web.chat.postMessage({ channel: 'C0PAYMENTS', text });
      expect(posted.message?.text).toBe(text);
      const updated = await web.chat.update({
        channel: 'C0PAYMENTS',
        ts: posted.ts!,
        text: `${text} (edited)`,
      });
      expect(updated.text).toBe(`${text} (edited)`);
    }
  });
});
