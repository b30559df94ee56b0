-- Until when an update of the row's Slack message (an incident's root, an action request's approval
-- message) that got no answer (a timeout, a gateway's 502) may still be carried out by Slack: no later
-- update is sent before then, lest the late one land last and Slack show an older version for good while
-- PostgreSQL holds the newer shown (src/db/slackUpdates.ts).
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS update_unsettled_until timestamptz;
ALTER TABLE action_requests ADD COLUMN IF NOT EXISTS update_unsettled_until timestamptz;
