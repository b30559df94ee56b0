-- When the run's driver was let start, written in the step that lets it start. A request found `running`
-- without it never touched its target: it goes back to `approved` and runs. One with it did: it is run
-- again only if its action is declared idempotent, else recorded as interrupted.
ALTER TABLE action_requests ADD COLUMN IF NOT EXISTS driver_started_at timestamptz;
