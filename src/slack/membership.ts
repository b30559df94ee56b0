import type { Logger } from '../observability/logger.js';
import { SlackRejectedError } from './errors.js';
import type { SlackApi } from './slackApi.js';

/** How often a group's id asked for before Slack has listed the groups asks Slack again, at most. */
const ASK_AGAIN_MS = 10_000;

/**
 * User-group members from Slack (usergroups.list, usergroups.users.list): the `Membership` the approval
 * policy asks for; the port does not import the use case to say so. It answers from memory only, because
 * a click decides holding its request's row lock and a request is answered in Slack's 3 s, neither waiting
 * for Slack (usergroups.users.list is Tier 2, and Slack can be slow or down). The groups the catalog names
 * (approvers and requesters) are read at start and then every `refreshMs` in the background; a refresh that
 * fails keeps what was known. A group Slack refuses to read (no_such_subteam, missing_scope) has nobody in
 * it, as a misspelled handle has, and the log says why: waiting would answer "try again" for ever.
 */
export class SlackMembership {
  private readonly members = new Map<string, ReadonlySet<string>>();
  /** Handle → id, as Slack last listed them; undefined until Slack has listed them once. */
  private handleIds?: Map<string, string>;
  private timer?: NodeJS.Timeout;
  private refreshing?: Promise<void>;
  /** When a group's id, asked for before Slack listed them, last had them asked for again. */
  private askedAt = 0;

  constructor(
    private readonly slack: SlackApi,
    /** User-group ids (S…) and handles (@sre-oncall). */
    private readonly groups: readonly string[],
    private readonly refreshMs: number,
    private readonly logger: Logger,
  ) {}

  /** The members as last read from Slack; undefined until Slack has answered for the group. */
  groupMembers(group: string): ReadonlySet<string> | undefined {
    return this.members.get(group);
  }

  /**
   * A group's id: an id as it is, a handle's as Slack listed it; null when Slack listed the groups and
   * has no such handle; undefined while Slack has not listed them yet, and then they are asked for again.
   */
  groupId(group: string): string | null | undefined {
    if (!group.startsWith('@')) return group;
    if (!this.handleIds) {
      const now = Date.now();
      // Not for every step waiting: usergroups.list is Tier 2, about 20 a minute.
      if (now - this.askedAt >= ASK_AGAIN_MS) {
        this.askedAt = now;
        void this.refresh();
      }
      return undefined;
    }
    return this.handleIds.get(group) ?? null;
  }

  start(): void {
    if (this.groups.length === 0 || this.timer) return;
    void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Reads every group again; one refresh at a time. */
  refresh(): Promise<void> {
    this.refreshing ??= this.read().finally(() => {
      this.refreshing = undefined;
    });
    return this.refreshing;
  }

  private async read(): Promise<void> {
    let ids: Map<string, string> | undefined;
    if (this.groups.some((g) => g.startsWith('@'))) {
      try {
        ids = new Map((await this.slack.userGroups()).map((g) => [`@${g.handle}`, g.id]));
      } catch (err) {
        if (err instanceof SlackRejectedError) {
          this.logger.error(
            { err },
            `Slack refused to list user groups (${err.slackError}): nobody approves or requests through a handle`,
          );
          ids = new Map();
        } else this.logger.warn({ err }, 'could not list user groups; policies go by what was known');
      }
      if (ids) this.handleIds = ids;
    }
    for (const group of this.groups) {
      const id = group.startsWith('@') ? ids?.get(group) : group;
      if (!id) {
        // Slack answered and has no such handle: nobody is in it.
        if (ids) this.members.set(group, new Set());
        continue;
      }
      try {
        this.members.set(group, new Set(await this.slack.userGroupMembers(id)));
      } catch (err) {
        if (err instanceof SlackRejectedError) {
          this.members.set(group, new Set());
          this.logger.error(
            { err, group },
            `Slack refused to read user group ${group} (${err.slackError}): nobody approves or requests through it`,
          );
        } else this.logger.warn({ err, group }, 'could not read a user group; policies go by what was known');
      }
    }
  }
}
