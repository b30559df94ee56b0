-- An incident's channel of its own is settled once it is made, its declarer invited and its announcement
-- posted, each done or refused by Slack. Until then the incident-tasks sweep queues its create-channel job
-- again: a job lost with Redis after the channel was made left the invite and the announcement undone.
-- A channel made before this migration is settled if its announcement is posted or it has none; one still
-- unannounced is tried once more (its invite too, which Slack takes again as done).
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS channel_settled_at timestamptz;
UPDATE incidents SET channel_settled_at = now()
 WHERE dedicated_channel AND channel_id IS NOT NULL AND channel_settled_at IS NULL
   AND (announcement_channel_id IS NULL OR announcement_ts IS NOT NULL);
