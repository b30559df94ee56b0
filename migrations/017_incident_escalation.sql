-- How many steps of its escalation policy an alert-born incident has run since it last opened
-- (src/escalation): a step runs only by moving this from its number to the next, so it runs once however
-- many jobs, replicas or restarts come at it. Reopening sets it back to 0.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_name = 'incidents' AND column_name = 'escalation_step') THEN
    ALTER TABLE incidents ADD COLUMN escalation_step integer NOT NULL DEFAULT 0;
    -- Incidents already open when escalation arrives were being handled without it: they count as past
    -- every step (no policy has this many), or the first start would call every level at once for
    -- incidents open for days. Reopening one starts it at step 0.
    UPDATE incidents SET escalation_step = 2147483647 WHERE state = 'open';
  END IF;
END $$;

-- What the escalation sweep reads: open alert-born incidents nobody has acknowledged.
CREATE INDEX IF NOT EXISTS incidents_unacknowledged ON incidents (id)
  WHERE state = 'open' AND acknowledged_at IS NULL AND group_key IS NOT NULL;
