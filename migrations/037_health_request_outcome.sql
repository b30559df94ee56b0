-- A health request whose result cannot be shown for a reason other than an outage (a template override
-- that breaks on it, a fault of the bot's) is tried again a few times, then given up: `failures` counts
-- those tries, `error` says why the last one failed, and `given_up_at` ends the request. The row stays as
-- the record of it; the workers' sweep no longer queues it.
ALTER TABLE health_requests ADD COLUMN IF NOT EXISTS failures integer NOT NULL DEFAULT 0;
ALTER TABLE health_requests ADD COLUMN IF NOT EXISTS error text;
ALTER TABLE health_requests ADD COLUMN IF NOT EXISTS given_up_at timestamptz;

-- When who asked was shown the result, only to them, while the message for everyone waited for the
-- channel's turn: on the row, so that a job the sweep queues anew does not show it them again.
ALTER TABLE health_requests ADD COLUMN IF NOT EXISTS shown_to_asker_at timestamptz;

CREATE INDEX IF NOT EXISTS health_requests_due ON health_requests (id) WHERE given_up_at IS NULL;
