import type pg from 'pg';
import { SlackRejectedError } from '../slack/errors.js';

/**
 * An incident Slack will not show where it belongs is shown in the default channel (or, for a declared
 * incident whose own channel could not be made, the announcement channel) rather than nowhere, with a
 * line saying where it belonged and why. Once moved, its messages stay there: the broken channel is
 * not tried again for it, by its syncs or by the reconcile pass.
 */

// Slack's answers that mean the bot cannot post in the channel, or cannot keep an incident there: a
// channel only admins post in (read-only, or a workspace preference), one that takes no top-level
// messages (no root), or no thread replies (no timeline).
const CHANNEL_REFUSALS = new Set([
  'not_in_channel',
  'channel_not_found',
  'is_archived',
  'restricted_action',
  'restricted_action_read_only_channel',
  'restricted_action_thread_only_channel',
  'restricted_action_non_threadable_channel',
]);

/** Slack's error when `err` says the bot cannot post in the channel; undefined for any other error. */
export function channelRefusal(err: unknown): string | undefined {
  return err instanceof SlackRejectedError && CHANNEL_REFUSALS.has(err.slackError)
    ? err.slackError
    : undefined;
}

/**
 * Shows the incident in `fallback` from now on, recording the channel it leaves and Slack's error; its
 * next sync posts a new root message there. Undefined when it is in `fallback` already: nowhere left to
 * go. Otherwise the version Slack must now show.
 */
export async function moveToFallbackChannel(
  db: pg.ClientBase | pg.Pool,
  incidentId: number,
  fallback: string,
  slackError: string,
): Promise<number | undefined> {
  // A post to the old channel whose outcome is unknown is not looked for there: that channel is done with
  // (a look there fails as the posts did, and would keep the auto checks from the new thread for ever).
  // The fallback is shared (several incidents can land there), never the incident's own channel, which it
  // no longer has: dedicated_channel goes false, or commands typed there would take it for this incident's.
  const { rows } = await db.query<{ version: number }>(
    `WITH moved AS (
       UPDATE incidents
          SET refused_channel_id = channel_id, slack_error = $3, channel_id = $2, root_ts = NULL,
              dedicated_channel = false,
              root_version = 0, version = version + 1, updated_at = now()
        WHERE id = $1 AND channel_id IS DISTINCT FROM $2
        RETURNING id, version
     ), forgotten AS (
       DELETE FROM slack_post_intents
        WHERE subject_id IN (SELECT id FROM moved)
          AND event_type IN ('incident_root', 'incident_entry', 'playbook_checks')
     )
     SELECT version FROM moved`,
    [incidentId, fallback, slackError],
  );
  return rows[0]?.version;
}
