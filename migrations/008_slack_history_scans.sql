-- What one look through a channel's history (conversations.history) or a thread's replies
-- (conversations.replies) saw of the bot's own messages, kept so that one look settles every post of
-- that channel or thread whose outcome is unknown, from any worker or replica, instead of one look each
-- (src/slack/postOnce.ts says when a scan may answer for a post it was not made for).
CREATE TABLE IF NOT EXISTS slack_history_scans (
  id          bigserial PRIMARY KEY,
  channel_id  text NOT NULL,
  -- The thread whose replies were read; '' for the channel's history.
  thread_ts   text NOT NULL DEFAULT '',
  -- The scan saw every message posted after this time (the `oldest` it asked Slack for).
  oldest      timestamptz NOT NULL,
  -- When the scan began, on the database's clock (as slack_post_intents.recorded_at).
  scanned_at  timestamptz NOT NULL,
  -- The bot's messages with metadata that it saw: their ts by '<event_type>/<nonce>'.
  found       jsonb NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS slack_history_scans_place
  ON slack_history_scans (channel_id, thread_ts, scanned_at DESC);
