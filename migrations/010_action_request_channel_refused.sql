-- An approval message Slack would not let the bot post where it was asked for (not_in_channel,
-- channel_not_found, is_archived): the channel that refused the bot and Slack's error, as for incidents
-- (007). The message is then shown in its incident's thread or the default channel, saying so.
ALTER TABLE action_requests ADD COLUMN IF NOT EXISTS refused_channel_id text;
ALTER TABLE action_requests ADD COLUMN IF NOT EXISTS slack_error text;
