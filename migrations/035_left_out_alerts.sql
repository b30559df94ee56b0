-- An incident whose resolved notification Alertmanager truncated (max_alerts), so that Alertmanager is to
-- be asked which of the group's alerts are still live (src/alerts/leftOutAlerts.ts): when it came, and the
-- receiver it was sent to. The incident-tasks sweep asks again for any still marked, whatever became of the
-- job that was to; an ask clears the marks it answered. Reopening clears them too.
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS left_out_at timestamptz;
ALTER TABLE incidents ADD COLUMN IF NOT EXISTS left_out_receiver text;

CREATE INDEX IF NOT EXISTS incidents_left_out ON incidents (id) WHERE left_out_at IS NOT NULL AND state = 'open';
