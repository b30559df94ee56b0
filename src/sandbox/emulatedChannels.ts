/**
 * Channels made through conversations.create, under Slack's naming rules. Only these are known to
 * conversations.invite; channels the bot is merely configured to post to (C0PAYMENTS in the tests) need
 * no registration, as chat.postMessage takes any channel id on trust.
 */

export interface EmulatedChannel {
  id: string;
  name: string;
  isPrivate: boolean;
  /** Unix seconds. */
  created: number;
  creator: string;
  members: string[];
}

const NAME_MAX = 80;

/** The error Slack answers for a channel name it refuses; undefined for a good name. */
export function channelNameError(name: string): string | undefined {
  if (name.length === 0) return 'invalid_name_required';
  if (name.length > NAME_MAX) return 'invalid_name_maxlength';
  if (!/^[a-z0-9_-]+$/.test(name)) return 'invalid_name_specials';
  if (/^[_-]+$/.test(name)) return 'invalid_name_punctuation';
  return undefined;
}

export class ChannelRegistry {
  private readonly byId = new Map<string, EmulatedChannel>();

  /**
   * The new channel, with its creator as first member, or Slack's error code. `id` is for channels a
   * config names (the sandbox's #incidents is C0INCIDENTS); Slack picks it otherwise.
   */
  create(
    name: string,
    isPrivate: boolean,
    creator: string,
    id?: string,
  ): EmulatedChannel | { error: string } {
    const error = channelNameError(name);
    if (error) return { error };
    if ([...this.byId.values()].some((c) => c.name === name)) return { error: 'name_taken' };
    const channel: EmulatedChannel = {
      id: id ?? `C${String(this.byId.size + 1).padStart(8, '0')}`,
      name,
      isPrivate,
      created: Math.floor(Date.now() / 1000),
      creator,
      members: [creator],
    };
    this.byId.set(channel.id, channel);
    return channel;
  }

  get(id: string): EmulatedChannel | undefined {
    return this.byId.get(id);
  }

  all(): EmulatedChannel[] {
    return [...this.byId.values()];
  }
}

/** A channel as the Web API returns it to `viewer`. */
export function channelToApi(channel: EmulatedChannel, viewer: string): Record<string, unknown> {
  return {
    id: channel.id,
    name: channel.name,
    is_channel: true,
    is_private: channel.isPrivate,
    is_member: channel.members.includes(viewer),
    created: channel.created,
    creator: channel.creator,
    num_members: channel.members.length,
  };
}
