-- How many steps of its escalation policy an alert-born incident has run since it last opened
-- (src/escalation): a step runs only by moving this from its number to the next, so it runs once however
-- many jobs, replicas or restarts come at it. Reopening sets it back to 0.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS escalation_step integer NOT NULL DEFAULT 0;

-- What the escalation sweep reads: open alert-born incidents nobody has acknowledged.
CREATE INDEX IF NOT EXISTS incidents_unacknowledged ON incidents (id)
  WHERE state = 'open' AND acknowledged_at IS NULL AND group_key IS NOT NULL;
