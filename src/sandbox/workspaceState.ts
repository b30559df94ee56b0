import type { Block, TextObject } from '../render/blockKit.js';
import type { SandboxClient } from './sandboxClient.js';
import type { EmulatedMessage, SlackEmulator } from './slackEmulator.js';

/** What the sandbox page shows one person: the workspace as Slack's client would show it to them. */

interface MessageState {
  ts: string;
  user: string;
  text: string;
  blocks: Block[];
  edited: boolean;
  files: Array<{ id: string; title: string; name: string; content: string }>;
}

export interface WorkspaceState {
  botUserId: string;
  users: Array<{ id: string; name: string; realName: string; groups: string[] }>;
  groups: Array<{ id: string; handle: string }>;
  channels: Array<{ id: string; name: string }>;
  /** Top-level messages by channel, each with its thread replies, oldest first. */
  messages: Record<string, Array<MessageState & { replies: MessageState[] }>>;
  ephemerals: Array<{ channel: string; ts: string; text: string; blocks: Block[] }>;
  modal?: {
    id: string;
    title: TextObject;
    submit?: TextObject;
    close?: TextObject;
    blocks: Block[];
    errors: Record<string, string>;
  };
}

export function workspaceState(
  emulator: SlackEmulator,
  client: SandboxClient,
  botUserId: string,
  userId: string,
): WorkspaceState {
  const files = new Map(emulator.files().map((f) => [f.id, f]));
  const toState = (m: EmulatedMessage): MessageState => ({
    ts: m.ts,
    user: m.user,
    text: m.text,
    blocks: m.blocks,
    edited: m.editedTs !== undefined,
    files: (m.files ?? []).map((f) => ({
      id: f.id,
      title: f.title,
      name: f.name,
      content: files.get(f.id)?.content ?? '',
    })),
  });
  const all = emulator.allMessages();
  const channels = emulator.channels().map((c) => ({ id: c.id, name: c.name }));
  // The bot may post to a channel id no one created here (a route to a channel of your own config).
  for (const id of new Set(all.map((m) => m.channel))) {
    if (!channels.some((c) => c.id === id)) channels.push({ id, name: id });
  }
  const messages: WorkspaceState['messages'] = {};
  for (const channel of channels) {
    messages[channel.id] = emulator.channelMessages(channel.id).map((m) => ({
      ...toState(m),
      replies: emulator.threadOf(m.channel, m.ts).map(toState),
    }));
  }
  const groups = emulator.groups();
  const modal = client.openView(userId);
  return {
    botUserId,
    users: emulator.users().map((u) => ({
      ...u,
      groups: groups.filter((g) => g.users.includes(u.id)).map((g) => g.handle),
    })),
    groups: groups.map((g) => ({ id: g.id, handle: g.handle })),
    channels,
    messages,
    ephemerals: emulator
      .ephemerals(userId)
      .map((e) => ({ channel: e.channel, ts: e.ts, text: e.text, blocks: e.blocks })),
    ...(modal
      ? {
          modal: {
            id: modal.id,
            title: modal.title,
            ...(modal.submit ? { submit: modal.submit } : {}),
            ...(modal.close ? { close: modal.close } : {}),
            blocks: modal.blocks,
            errors: modal.errors ?? {},
          },
        }
      : {}),
  };
}
