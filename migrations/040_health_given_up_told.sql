-- When who asked was told that their health request is given up (037). Until then the row stays due: the
-- workers' sweep queues it again and its job tells them, so a Slack outage at the moment it was given up
-- delays the notice rather than losing it. Set before the notice is sent (an ephemeral cannot be looked
-- up: a crash after sending must not send it twice) and cleared again when Slack did not take it.
ALTER TABLE health_requests ADD COLUMN IF NOT EXISTS given_up_told_at timestamptz;
-- Given up before: their one notice was tried then.
UPDATE health_requests SET given_up_told_at = given_up_at
 WHERE given_up_at IS NOT NULL AND given_up_told_at IS NULL;

-- Due: not given up, or given up and who asked not told yet.
DROP INDEX IF EXISTS health_requests_due;
CREATE INDEX IF NOT EXISTS health_requests_due ON health_requests (id) WHERE given_up_told_at IS NULL;
