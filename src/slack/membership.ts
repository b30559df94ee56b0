import type { SlackApi } from './slackApi.js';

const CACHE_MS = 60_000;

/**
 * User-group members from Slack (usergroups.list, usergroups.users.list), cached for a minute. It is the
 * `Membership` the approval policy asks for; the port does not import the use case to say so.
 */
export class SlackMembership {
  private groups?: { at: number; byHandle: Map<string, string> };
  private readonly members = new Map<string, { at: number; users: ReadonlySet<string> }>();

  constructor(private readonly slack: SlackApi) {}

  async groupMembers(group: string): Promise<ReadonlySet<string>> {
    const id = group.startsWith('@') ? await this.groupId(group.slice(1)) : group;
    if (!id) return new Set();
    const cached = this.members.get(id);
    if (cached && Date.now() - cached.at < CACHE_MS) return cached.users;
    const users = new Set(await this.slack.userGroupMembers(id));
    this.members.set(id, { at: Date.now(), users });
    return users;
  }

  private async groupId(handle: string): Promise<string | undefined> {
    if (!this.groups || Date.now() - this.groups.at >= CACHE_MS) {
      this.groups = {
        at: Date.now(),
        byHandle: new Map((await this.slack.userGroups()).map((g) => [g.handle, g.id])),
      };
    }
    return this.groups.byHandle.get(handle);
  }
}
