import type { Logger } from '../observability/logger.js';
import { SlackRejectedError } from './errors.js';
import type { SlackApi } from './slackApi.js';

/**
 * People's names from Slack (users.info), remembered for an hour, for text where `<@U123>` shows nobody:
 * documents read outside Slack (post-mortems) and a form's field errors. A name that cannot be read
 * leaves the id to stand for the person: user_not_found, a token without users:read (an install from
 * before it asked for the scope), Slack down or rate limiting. A name read earlier is better than an id,
 * so one past its hour still serves while Slack cannot be asked.
 */

/** How long a name (or Slack's word that there is none) is used without asking again. */
const REMEMBER_MS = 60 * 60_000;
/** How long a token Slack refused users.info is not asked again: a reinstall shows within this. */
const REFUSED_MS = 10 * 60_000;
const MAX_REMEMBERED = 10_000;
const MAX_NAME = 80;
/** How long `warm` leaves Slack alone after it did not answer: every click would otherwise ask again. */
const QUIET_AFTER_OUTAGE_MS = 60_000;

// Slack's answers that mean no id will be read with this token, whoever it names: for want of the
// users:read scope, or because the token itself is refused (revoked, expired, its workspace gone).
const SCOPE_REFUSALS = new Set(['missing_scope', 'no_permission', 'not_allowed_token_type']);
const TOKEN_REFUSALS = new Set([
  ...SCOPE_REFUSALS,
  'invalid_auth',
  'not_authed',
  'token_revoked',
  'token_expired',
  'account_inactive',
]);

// Slack's refusals that say this person has no name to show (gone, or of an organisation the bot
// cannot see), not that no one's will be read.
const NO_NAME_FOR_THEM = new Set(['user_not_found', 'user_not_visible', 'team_access_not_granted']);

export class UserNames {
  private readonly remembered = new Map<string, { name: string | undefined; at: number }>();
  private refusedUntil = 0;
  private quietUntil = 0;
  /** Ids `warm` is asking Slack for now: one asking at a time for each. */
  private readonly asking = new Set<string>();

  constructor(
    private readonly slack: Pick<SlackApi, 'userName'>,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** The names of those of `ids` Slack could name; an id it could not is left out. */
  async names(ids: Iterable<string>): Promise<Map<string, string>> {
    const names = new Map<string, string>();
    // One failure that is not about the id ends the asking: the next would fail the same way.
    let ask = this.now() >= this.refusedUntil;
    for (const id of new Set(ids)) {
      const known = this.remembered.get(id);
      if (known && this.fresh(id)) {
        if (known.name) names.set(id, known.name);
        continue;
      }
      if (ask) {
        try {
          const name = oneLine(await this.slack.userName(id));
          this.remember(id, name || undefined);
          if (name) names.set(id, name);
          continue;
        } catch (err) {
          // Slack's word about this person: no name, and the others asked for all the same.
          if (err instanceof SlackRejectedError && NO_NAME_FOR_THEM.has(err.slackError)) {
            this.remember(id, undefined);
            continue;
          }
          ask = false;
          this.refused(err);
        }
      }
      if (known?.name) names.set(id, known.name);
    }
    return names;
  }

  /**
   * The names already known for those of `ids`, however old, without asking Slack: for an answer that
   * must not wait on it (an acknowledgement). `warm` fills them in for next time.
   */
  known(ids: Iterable<string>): Map<string, string> {
    const names = new Map<string, string>();
    for (const id of ids) {
      const name = this.remembered.get(id)?.name;
      if (name) names.set(id, name);
    }
    return names;
  }

  /** Asks Slack, in the background, for those of `ids` not asked within the hour; nothing to wait for. */
  warm(ids: Iterable<string>): void {
    if (this.now() < Math.max(this.refusedUntil, this.quietUntil)) return;
    const due = [...new Set(ids)].filter((id) => !this.asking.has(id) && !this.fresh(id));
    if (due.length === 0) return;
    for (const id of due) this.asking.add(id);
    void this.names(due)
      .catch((err: unknown) => this.logger.warn({ err }, 'could not learn names from Slack'))
      .finally(() => {
        for (const id of due) this.asking.delete(id);
      });
  }

  private fresh(id: string): boolean {
    const known = this.remembered.get(id);
    return known !== undefined && this.now() - known.at < REMEMBER_MS;
  }

  private refused(err: unknown): void {
    this.quietUntil = this.now() + QUIET_AFTER_OUTAGE_MS;
    if (err instanceof SlackRejectedError && TOKEN_REFUSALS.has(err.slackError)) {
      this.refusedUntil = this.now() + REFUSED_MS;
      const fix = SCOPE_REFUSALS.has(err.slackError)
        ? 'Give the app users:read (reinstall it from manifest.yml)'
        : 'Check SLACK_BOT_TOKEN: Slack no longer takes it';
      this.logger.warn(
        { err },
        `Slack refused users.info (${err.slackError}): people are shown by id. ${fix}`,
      );
    } else {
      this.logger.warn({ err }, 'Slack did not answer users.info: people are shown by id for now');
    }
  }

  private remember(id: string, name: string | undefined): void {
    this.remembered.delete(id);
    this.remembered.set(id, { name, at: this.now() });
    // The oldest go first: a Map iterates in the order of insertion.
    if (this.remembered.size > MAX_REMEMBERED) this.remembered.delete(this.remembered.keys().next().value!);
  }
}

/** A name as one line of plain text: a document's line must not break at it. */
function oneLine(name: string): string {
  const line = name.replace(/[\p{Cc}\p{Zl}\p{Zp}\s]+/gu, ' ').trim();
  const chars = [...line];
  return chars.length > MAX_NAME ? `${chars.slice(0, MAX_NAME - 1).join('')}…` : line;
}
