-- When the bot stored each alert's resolution, on its own clock: a firing copy with the stored startsAt
-- is a late copy within alerts.lateCopyWindow of it, and the alert firing again after that.

ALTER TABLE alerts ADD COLUMN IF NOT EXISTS resolution_recorded_at timestamptz;

-- Rows resolved before this column existed: their last change was the resolution.
UPDATE alerts SET resolution_recorded_at = updated_at
 WHERE status = 'resolved' AND resolution_recorded_at IS NULL;
