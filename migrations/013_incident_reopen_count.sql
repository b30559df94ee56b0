-- How many times the incident was reopened: its group fired again within alerts.reopenWithin of its
-- resolution, so the same incident and thread took it instead of a new one.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS reopen_count integer NOT NULL DEFAULT 0;
