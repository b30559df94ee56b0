-- An incident Slack would not show where it belonged: the channel that refused the bot
-- (not_in_channel, channel_not_found, is_archived; null when its own channel could not be created) and
-- Slack's error. The incident is then shown in the default or announcement channel, saying so.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS refused_channel_id text;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS slack_error text;
